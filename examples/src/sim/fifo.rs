//! `fifo`, pacquet after pnpm/pnpm#12243: an in-flight map (the cold batch joins a download
//! already started) and one FIFO pool of `concurrency` slots; no priorities, no promotion, so a
//! demanded package still queued waits behind every prefetch queued before it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use event_listener::Event;

use super::Env;
use super::install::{Install, Timeline, channel, complete};
use super::resolve::{Discover, resolve};
use super::semaphore::FifoSemaphore;

/// One download, shared by everyone who asked for it.
#[derive(Default)]
struct Flight {
    result: OnceLock<Result<u64, String>>,
    done: Event,
}

impl Flight {
    async fn wait(&self) -> Result<u64, String> {
        loop {
            if let Some(result) = self.result.get() {
                return result.clone();
            }
            let listener = self.done.listen();
            if let Some(result) = self.result.get() {
                return result.clone();
            }
            listener.await;
        }
    }
}

#[derive(Clone)]
struct InFlight {
    env: Arc<Env>,
    slots: FifoSemaphore,
    map: Arc<Mutex<HashMap<usize, Arc<Flight>>>>,
}

impl InFlight {
    /// Join the download of `package`, or start it at the back of the FIFO.
    fn start(&self, package: usize) -> Arc<Flight> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = map.get(&package) {
            return flight.clone();
        }
        let flight = Arc::new(Flight::default());
        map.insert(package, flight.clone());
        let (env, slots, task_flight) = (self.env.clone(), self.slots.clone(), flight.clone());
        self.env.spawn(async move {
            let _slot = slots.acquire().await;
            let result = env.download(package).await;
            let _ = task_flight.result.set(result);
            task_flight.done.notify(usize::MAX);
        });
        flight
    }
}

pub(crate) async fn run(env: Arc<Env>) -> Result<Timeline, String> {
    let flights = InFlight {
        env: env.clone(),
        slots: FifoSemaphore::new(env.config.concurrency),
        map: Arc::default(),
    };
    let discover: Discover = {
        let flights = flights.clone();
        Arc::new(move |package| {
            flights.start(package);
        })
    };
    resolve(&env, discover).await;
    let install = Install::begin(&env);
    let (tx, rx) = channel();
    for &package in &install.cold {
        let (flight, tx) = (flights.start(package), tx.clone());
        env.spawn(async move { complete(&tx, package, flight.wait().await) });
    }
    install.finish(&env, rx).await
}
