//! `scheduler`: fetch-scheduler on smol. The resolver prefetches each package as discovered; the
//! cold batch demands its packages with `get_all` (joining, promoting or starting each), with
//! `reserved_for_demand` slots that prefetches can never take. Once the cold batch is registered,
//! `close()` drops the prefetches still queued: resolution is over, so those are speculative.
//! With [`SimConfig::trace`](super::SimConfig::trace) its events are recorded until the install
//! ends (see [`crate::trace`]).

use std::sync::Arc;

use fetch_scheduler::{JobContext, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use futures_lite::StreamExt;

use super::Env;
use super::install::{Install, Timeline, channel, complete};
use super::resolve::{Discover, resolve};
use crate::trace::TraceRecorder;

pub(crate) async fn run(env: Arc<Env>) -> Result<Timeline, String> {
    let Some(executor) = env.ex.upgrade() else {
        return Err("the executor is gone".into());
    };
    let fetch_env = env.clone();
    let scheduler: Scheduler<usize, u64, String> = Scheduler::builder()
        .concurrency(env.config.concurrency)
        .reserved_for_demand(env.config.reserved_for_demand)
        .build(
            SmolRuntime::new(&executor),
            move |package: &usize, _cx: JobContext| {
                let (env, package) = (fetch_env.clone(), *package);
                async move { env.download(package).await }
            },
        )
        .map_err(|e| format!("scheduler config: {e:?}"))?;
    let recorder = env.config.trace.then(|| TraceRecorder::start(&scheduler));
    let discover: Discover = {
        let scheduler = scheduler.clone();
        let env = env.clone();
        Arc::new(move |package| {
            if env.config.size_hints {
                scheduler.prefetch_with_hint(package, env.universe.packages[package].size());
            } else {
                scheduler.prefetch(package);
            }
        })
    };
    resolve(&env, discover).await;
    let install = Install::begin(&env);
    let (tx, rx) = channel();
    let mut batch = scheduler.get_all(install.cold.clone());
    // Resolution is over: no prefetch will come, and whatever is still queued without a demand is
    // speculative. Closing drops it; running jobs and the demanded ones finish.
    scheduler.close();
    env.spawn(async move {
        while let Some((package, result)) = batch.next().await {
            complete(&tx, package, result.map_err(|e| e.to_string()));
        }
    });
    let timeline = install.finish(&env, rx).await;
    if let Some(recorder) = recorder {
        let trace = recorder.finish(|&package| env.universe.packages[package].key());
        *env.trace.lock().unwrap_or_else(|e| e.into_inner()) = Some(trace);
    }
    env.spawn(async move { scheduler.drain().await });
    timeline
}
