//! `barrier`: detached prefetches whose handles are kept; the install first waits for every one
//! of them (speculative ones included), then partitions by the store index and uses the prefetch
//! results for the cold packages (downloading only what was never prefetched).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use smol::Task;

use super::Env;
use super::install::{Install, Timeline, channel, complete, download_cold};
use super::resolve::{Discover, resolve};
use super::semaphore::FifoSemaphore;

type Handles = Arc<Mutex<Vec<(usize, Task<Result<u64, String>>)>>>;

pub(crate) async fn run(env: Arc<Env>) -> Result<Timeline, String> {
    let slots = FifoSemaphore::new(env.config.concurrency);
    let handles: Handles = Arc::default();
    let discover: Discover = {
        let (env, slots, handles) = (env.clone(), slots.clone(), handles.clone());
        Arc::new(move |package| {
            let (task_env, slots) = (env.clone(), slots.clone());
            let task = env.spawn_task(async move {
                let _slot = slots.acquire().await;
                task_env.download(package).await
            });
            if let Some(task) = task {
                handles
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((package, task));
            }
        })
    };
    resolve(&env, discover).await;
    let phase_start = Instant::now();
    let tasks = std::mem::take(&mut *handles.lock().unwrap_or_else(|e| e.into_inner()));
    let mut prefetched = HashMap::with_capacity(tasks.len());
    for (package, task) in tasks {
        prefetched.insert(package, task.await);
    }
    let install = Install::begin_at(&env, phase_start);
    let (tx, rx) = channel();
    for &package in &install.cold {
        match prefetched.get(&package) {
            Some(Ok(bytes)) => complete(&tx, package, Ok(*bytes)),
            _ => download_cold(&env, &slots, &tx, package),
        }
    }
    install.finish(&env, rx).await
}
