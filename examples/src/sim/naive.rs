//! `naive`, pnpm/pnpm#12241: detached prefetches; the cold batch downloads every cold package
//! again without looking at the work in flight. One FIFO pool of `concurrency` slots for all.

use std::sync::Arc;

use super::Env;
use super::install::{Install, Timeline, channel, download_cold};
use super::resolve::{Discover, resolve};
use super::semaphore::FifoSemaphore;

pub(crate) async fn run(env: Arc<Env>) -> Result<Timeline, String> {
    let slots = FifoSemaphore::new(env.config.concurrency);
    let discover: Discover = {
        let (env, slots) = (env.clone(), slots.clone());
        Arc::new(move |package| {
            let (task_env, slots) = (env.clone(), slots.clone());
            env.spawn(async move {
                let _slot = slots.acquire().await;
                let _ = task_env.download(package).await;
            });
        })
    };
    resolve(&env, discover).await;
    let install = Install::begin(&env);
    let (tx, rx) = channel();
    for &package in &install.cold {
        download_cold(&env, &slots, &tx, package);
    }
    install.finish(&env, rx).await
}
