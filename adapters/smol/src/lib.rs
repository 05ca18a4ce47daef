//! Run [`fetch-scheduler`](fetch_scheduler) on smol: a given [`smol::Executor`], or smol's global
//! one.
//!
//! ```
//! use std::sync::Arc;
//! use fetch_scheduler::{JobContext, Scheduler};
//! use fetch_scheduler_smol::SmolRuntime;
//!
//! let scheduler: Scheduler<String, Arc<str>, std::io::Error> = Scheduler::builder()
//!     .concurrency(8)
//!     .build(SmolRuntime::global(), |key: &String, _cx: &JobContext| {
//!         let key = key.clone();
//!         async move { Ok(Arc::from(key.to_uppercase())) }
//!     })
//!     .unwrap();
//! scheduler.prefetch("left-pad".to_string());
//! let value = smol::block_on(scheduler.get("left-pad".to_string())).unwrap();
//! assert_eq!(&*value, "LEFT-PAD");
//! ```

use std::sync::Arc;
use std::time::Duration;

use fetch_scheduler::{BoxFuture, Runtime};
use smol::{Executor, Timer};

/// A [`Runtime`] that spawns jobs on a smol executor and sleeps with `async-io`'s timer.
///
/// With [`SmolRuntime::new`] the executor must be driven (`executor.run(..)` on one or more
/// threads) while the scheduler has work; jobs spawned on an executor nobody runs never start.
/// [`SmolRuntime::global`] needs nothing: smol's global executor runs on its own threads.
#[derive(Clone, Debug)]
pub struct SmolRuntime {
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns on `executor`; the caller drives it.
    pub fn new(executor: Arc<Executor<'static>>) -> Self {
        SmolRuntime {
            executor: Some(executor),
        }
    }

    /// Spawns on smol's global executor (`smol::spawn`), which runs on background threads
    /// (`SMOL_THREADS`, default 1).
    pub fn global() -> Self {
        SmolRuntime { executor: None }
    }
}

impl Runtime for SmolRuntime {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            Timer::after(duration).await;
        })
    }
}
