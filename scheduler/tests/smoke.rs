//! A first end-to-end check of the core on smol's global executor.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fetch_scheduler::{BoxFuture, JobContext, Runtime, Scheduler};

struct Smol;
impl Runtime for Smol {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        smol::spawn(task).detach();
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            smol::Timer::after(d).await;
        })
    }
}

#[test]
fn prefetch_then_get_fetches_once() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let s: Scheduler<u32, u32, String> = Scheduler::builder()
        .concurrency(4)
        .build(Smol, move |k: &u32, _cx: &JobContext| {
            c.fetch_add(1, Ordering::SeqCst);
            let k = *k;
            async move {
                smol::Timer::after(Duration::from_millis(5)).await;
                Ok(k * 2)
            }
        })
        .unwrap();
    for k in 0..100 {
        s.prefetch(k);
    }
    let got = smol::block_on(async {
        let mut sum = 0;
        for k in 0..100 {
            sum += s.get(k).await.unwrap();
        }
        sum
    });
    assert_eq!(got, (0..100).map(|k| k * 2).sum::<u32>());
    assert_eq!(calls.load(Ordering::SeqCst), 100);
    let st = s.stats();
    assert_eq!(st.attempts, 100);
    assert_eq!(st.succeeded, 100);
    assert_eq!(st.in_flight(), 0);
    assert_eq!(st.kept, 100);
    assert_eq!(s.peek(&7), Some(14));
}
