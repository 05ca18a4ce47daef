//! The seed scenario, pnpm/pnpm#12241, under the three executors.
//!
//! A resolver issues detached prefetches as it discovers packages (30 needed ones, 4 speculative
//! ones nobody will need, whose downloads stay slow). A download writes the tarball to a fake
//! content-addressed store (CAS) and queues a row for the store index, which commits rows with a
//! lag. The install then splits the needed packages into warm (index row visible) and cold, takes
//! the warm ones on a plain thread without awaiting anything, and runs the cold batch through the
//! downloader.
//!
//! The timeline is driven by gates, not sleeps, so it is the same on every run: packages 0..10 have
//! finished downloading when the install starts, but the index has committed only 0..5; packages
//! 10..13 are downloading; the rest are queued (or, naively, downloading).
//!
//! - `with_scheduler`: every needed package is fetched exactly once (done ones are answered from
//!   the kept results, in-flight ones joined, queued ones promoted), the warm path never awaits
//!   (a plain thread, no runtime), and the first cold demand starts at once in a reserved slot
//!   while every prefetch slot is held by a stalled download and 17 prefetches are queued ahead
//!   of it; a queued speculative prefetch never starts before the cold work.
//! - `without_scheduler`: the same flow with detached downloads and a cold batch that does not look
//!   at in-flight work (the bug) downloads 25 packages twice, so the scenario does reproduce the race.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use fetch_scheduler::{BoxFuture, Class, Fetch, JobContext, Scheduler};
use fetch_scheduler_tests::{
    Ctx, Fake, FetchError, Key, Recorder, TestScheduler, Value, check_capacity, classify,
    close_and_settle, for_each_executor, value_of,
};
use futures_lite::StreamExt;

/// Packages the install needs: `0..NEEDED`.
const NEEDED: Key = 30;
/// Packages the resolver prefetches speculatively (never needed).
const SPECULATIVE: [Key; 4] = [100, 101, 102, 103];
/// Downloads finished before the install starts: `0..DOWNLOADED`.
const DOWNLOADED: Key = 10;
/// Index rows committed before the install starts, `0..COMMITTED` (the index lags behind).
const COMMITTED: Key = 5;
const CONCURRENCY: usize = 8;
const RESERVED: usize = 2;

/// The order in which the resolver discovers packages: speculative ones early (a platform
/// package next to its parent), one late.
fn resolution_order() -> Vec<Key> {
    let mut order = vec![100, 0, 1, 101, 2, 102];
    order.extend(3..30);
    order.push(103);
    order
}

/// The fake store: the CAS and the lagging index.
#[derive(Clone, Default)]
struct Store {
    cas: Arc<Mutex<HashMap<Key, Value>>>,
    /// Rows queued by finished downloads, not yet visible.
    pending: Arc<Mutex<BTreeSet<Key>>>,
    /// Rows visible to the install.
    committed: Arc<Mutex<BTreeSet<Key>>>,
}

impl Store {
    /// What a download does when its bytes are in: write the CAS, queue the index row.
    fn downloaded(&self, key: Key, value: Value) {
        self.cas.lock().unwrap().insert(key, value);
        self.pending.lock().unwrap().insert(key);
    }

    fn in_cas(&self, key: Key) -> bool {
        self.cas.lock().unwrap().contains_key(&key)
    }

    /// The index writer catches up on `keys` only.
    fn commit(&self, keys: impl IntoIterator<Item = Key>) {
        let mut pending = self.pending.lock().unwrap();
        let mut committed = self.committed.lock().unwrap();
        for k in keys {
            assert!(pending.remove(&k), "row {k} was queued by its download");
            committed.insert(k);
        }
    }

    /// The install's split: (warm, cold).
    fn split(&self) -> (Vec<Key>, Vec<Key>) {
        let committed = self.committed.lock().unwrap();
        (0..NEEDED).partition(|k| committed.contains(k))
    }

    /// The warm path: index row, then CAS; synchronous.
    fn read_warm(&self, key: Key) -> Value {
        assert!(self.committed.lock().unwrap().contains(&key));
        *self
            .cas
            .lock()
            .unwrap()
            .get(&key)
            .expect("a committed row's files are in the CAS")
    }
}

/// The scheduler's fetcher: the fake download, then the store write.
fn fetcher(
    fake: Fake,
    store: Store,
) -> impl Fn(&Key, JobContext) -> BoxFuture<'static, Result<Value, FetchError>> + Send + Sync + 'static
{
    move |key: &Key, cx: JobContext| {
        let key = *key;
        let download = fake.fetch(&key, cx);
        let store = store.clone();
        Box::pin(async move {
            let value = download.await?;
            store.downloaded(key, value);
            Ok(value)
        })
    }
}

async fn with_scheduler(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let store = Store::default();
    let s: TestScheduler = Scheduler::builder()
        .concurrency(CONCURRENCY)
        .reserved_for_demand(RESERVED)
        .classify(classify)
        .build(ctx.runtime(), fetcher(fake.clone(), store.clone()))
        .unwrap();
    let mut rec = Recorder::new(&s);

    // Resolution: detached prefetches, as each package is discovered.
    let resolver = {
        let s = s.clone();
        ctx.spawn(async move {
            for k in resolution_order() {
                futures_lite::future::yield_now().await;
                s.prefetch(k);
            }
        })
    };
    ctx.within("resolution", resolver).await;

    // Downloads of 0..10 finish; 10, 11, 12 take their prefetch slots and stay in flight.
    for k in 0..DOWNLOADED {
        fake.release(k);
    }
    ctx.within(
        "0..10 downloaded, 10..13 downloading",
        fake.until(|f| (10..13).all(|k| f.calls(k) == 1) && f.running() == 6),
    )
    .await;
    // A job's success is counted in the lock hold that keeps its value, and `stats` takes that
    // lock: once it counts 0..10, they are kept.
    rec.until(&ctx, "0..10 kept", || s.stats().succeeded == DOWNLOADED)
        .await;
    assert!((0..DOWNLOADED).all(|k| s.peek(&k).is_some()));
    assert!((0..DOWNLOADED).all(|k| store.in_cas(k)));
    store.commit(0..COMMITTED); // rows 5..10 lag behind
    let st = s.stats();
    assert_eq!(
        (st.running_prefetch, st.running_demand, st.queued_prefetch),
        (6, 0, 18),
        "3 speculative + 3 needed downloads run; 13..30 and 103 are queued"
    );

    // The install.
    let (warm, cold) = store.split();
    assert_eq!(warm, Vec::from_iter(0..COMMITTED));
    assert_eq!(cold.len(), 25);

    // Warm path: a plain thread, no runtime, nothing awaited; the scheduler would answer at once too.
    let warm_path = {
        let (store, s, warm) = (store.clone(), s.clone(), warm.clone());
        ctx.thread(move || {
            warm.iter()
                .map(|&k| {
                    let value = store.read_warm(k);
                    assert_eq!(s.peek(&k), Some(value));
                    assert!(s.get(k).is_immediate(), "warm key {k} would not wait");
                    (k, value)
                })
                .collect::<Vec<_>>()
        })
    };
    let waiters_before = s.stats().waiters;
    let warm_values = ctx.within("warm path", warm_path).await;
    assert_eq!(
        s.stats().waiters,
        waiters_before,
        "the warm path registered no waiter"
    );
    for (k, v) in warm_values {
        assert_eq!(v, value_of(k, 1));
    }

    // Cold batch. The install demands a direct dependency first: package 29, queued behind 16
    // needed prefetches and speculative 103, with every prefetch slot busy (3 speculative + 3
    // needed downloads, all stalled). It starts at once, as a demand, in a reserved slot: it does
    // not wait behind the queued prefetches nor for any running one to finish.
    let first = s.get(29);
    ctx.within(
        "the first cold demand starts in a reserved slot",
        fake.started(29, 1),
    )
    .await;
    let call = fake.log().into_iter().find(|c| c.key == 29).unwrap();
    assert_eq!(call.priority_at_start.map(|p| p.class), Some(Class::Demand));
    let st = s.stats();
    assert_eq!(
        (st.running_prefetch, st.running_demand, st.queued_prefetch),
        (6, 1, 17)
    );
    // Then the whole batch: done keys answer at once, running ones are joined, queued ones promoted.
    let mut batch = s.get_all(cold.iter().copied());
    let st = s.stats();
    check_capacity(&st, CONCURRENCY, RESERVED).unwrap();
    assert_eq!(
        (
            st.running_prefetch,
            st.running_demand,
            st.queued_demand,
            st.queued_prefetch
        ),
        (3, 5, 15, 1),
        "cold work holds every slot the stalled speculative downloads do not; only 103 waits"
    );
    assert_eq!(
        st.promoted, 20,
        "29, then 4 running and 15 queued cold prefetches promoted"
    );
    assert_eq!(fake.calls(103), 0, "the queued speculative prefetch waits");
    for k in 0..NEEDED {
        fake.release(k);
    }
    let mut got = Vec::new();
    while let Some((k, r)) = ctx.within("cold batch", batch.next()).await {
        assert_eq!(r.unwrap(), value_of(k, 1));
        got.push(k);
    }
    got.sort_unstable();
    assert_eq!(got, cold);
    assert_eq!(ctx.within("first", first).await.unwrap(), value_of(29, 1));
    ctx.within(
        "once slots free up, the queued speculative prefetch runs",
        fake.started(103, 1),
    )
    .await;

    // Each package fetched exactly once.
    for k in 0..NEEDED {
        assert_eq!(fake.calls(k), 1, "package {k} fetched once");
    }
    assert!(fake.keys_called_more_than_once().is_empty());
    assert!(fake.overlaps().is_empty());
    for k in SPECULATIVE {
        fake.release(k);
    }
    close_and_settle(&ctx, &s, &mut rec).await;
}

async fn without_scheduler(ctx: Ctx) {
    let fake = Fake::new();
    fake.hold_all();
    let store = Store::default();
    let download = |k: Key| {
        let (fake, store) = (fake.clone(), store.clone());
        async move {
            let value = fake.download(k).await.unwrap();
            store.downloaded(k, value);
        }
    };

    // Resolution: detached downloads, no limit, nothing shared with the install.
    let mut downloaded = Vec::new();
    let mut prefetches = Vec::new();
    for k in resolution_order() {
        let task = ctx.spawn(download(k));
        if k < DOWNLOADED {
            downloaded.push(task);
        } else {
            prefetches.push(task);
        }
    }
    for k in 0..DOWNLOADED {
        fake.release(k);
    }
    // A download's task ends after its CAS write.
    for t in downloaded {
        ctx.within("0..10 downloaded and in the CAS", t).await;
    }
    assert!((0..DOWNLOADED).all(|k| store.in_cas(k)));
    store.commit(0..COMMITTED);

    let (warm, cold) = store.split();
    assert_eq!(warm, Vec::from_iter(0..COMMITTED));
    // The cold batch downloads every cold package, unaware of the prefetches.
    let batch: Vec<_> = cold.iter().map(|&k| ctx.spawn(download(k))).collect();
    ctx.within(
        "every cold download started",
        fake.until(|f| cold.iter().all(|&k| f.calls(k) == 2)),
    )
    .await;
    fake.release_all();
    for t in batch {
        ctx.within("cold download", t).await;
    }
    for t in prefetches {
        ctx.within("prefetch download", t).await;
    }
    let duplicates = fake.keys_called_more_than_once();
    assert!(
        !duplicates.is_empty(),
        "the naive flow must reproduce #12241"
    );
    assert_eq!(
        duplicates,
        (5..30).collect::<Vec<_>>(),
        "downloaded-but-not-indexed (5..10) and in-flight (10..30) packages are fetched twice"
    );
    assert_eq!(
        fake.overlaps().len(),
        20,
        "10..30 ran twice at the same time"
    );
}

for_each_executor!(with_scheduler, without_scheduler);
