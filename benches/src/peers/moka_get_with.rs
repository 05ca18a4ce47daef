//! The `moka` crate's `future::Cache::get_with`: a concurrent cache whose `get_with` returns the
//! cached value or runs the init future once, other callers of the same key waiting for it.
//!
//! Used as a moka user would: one unbounded `moka::future::Cache<String, V>` (our hasher), every
//! request through `get_with`. We call its `get_with_by_ref` form, which is `get_with` without the
//! owned key (moka clones the key only when it inserts), so a hit costs no key allocation: the
//! cheapest way moka offers, in the peer's favour. moka does its housekeeping (access-order queues,
//! frequency sketch) on the calling tasks; `sync` runs what is pending, as a measurement of its
//! steady-state memory needs.

use std::future::Future;

use crate::Hasher;

/// A moka future cache used through `get_with`.
#[derive(Debug)]
pub struct MokaGetWith<V: Clone + Send + Sync + 'static> {
    cache: moka::future::Cache<String, V, Hasher>,
}

impl<V: Clone + Send + Sync + 'static> Default for MokaGetWith<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Send + Sync + 'static> MokaGetWith<V> {
    /// An empty, unbounded cache.
    pub fn new() -> Self {
        MokaGetWith {
            cache: moka::future::Cache::builder().build_with_hasher(Hasher::default()),
        }
    }

    /// The cached value of `key`, or the output of `init` (run once among concurrent callers).
    #[inline]
    pub async fn get_with(&self, key: &str, init: impl Future<Output = V>) -> V {
        self.cache.get_with_by_ref(key, init).await
    }

    /// Runs moka's pending maintenance (applies buffered reads and writes).
    pub async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }
}
