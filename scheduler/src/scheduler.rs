//! The public handle: the type, and its methods grouped by concern in `scheduler/`.

mod lifecycle;
mod observation;
mod requests;
mod results;

use std::fmt;
use std::hash::Hash;

use crate::inner::Inner;
use crate::sync::Arc;

/// Schedules fetches of keys `K` producing values `V` or errors `E`: one fetch per key in flight,
/// demand before prefetch, results kept.
///
/// A cheap handle (`Clone` is an `Arc` clone); all clones drive the same scheduler. Jobs keep
/// running when every handle is dropped; their results are then unreachable.
///
/// Its methods: requests ([`prefetch`](Self::prefetch), [`get`](Self::get),
/// [`get_all`](Self::get_all), [`get_blocking`](Self::get_blocking) and their `_with_hint`
/// forms), kept results ([`peek`](Self::peek), [`insert`](Self::insert),
/// [`forget`](Self::forget)), the end of work ([`cancel`](Self::cancel), [`close`](Self::close),
/// [`drain`](Self::drain)) and observation ([`stats`](Self::stats),
/// [`snapshot`](Self::snapshot), [`events`](Self::events)). Only the futures ([`Wait`](crate::Wait),
/// [`GetAll`](crate::GetAll), [`Drain`](crate::Drain)) and `get_blocking` ever wait; each says
/// when that can be forever.
///
/// See the [crate docs](crate) for the semantics and an example.
pub struct Scheduler<K, V, E> {
    inner: Arc<Inner<K, V, E>>,
}

impl<K, V, E> Scheduler<K, V, E> {
    pub(crate) fn from_inner(inner: Arc<Inner<K, V, E>>) -> Self {
        Scheduler { inner }
    }
}

impl<K, V, E> Clone for Scheduler<K, V, E> {
    fn clone(&self) -> Self {
        Scheduler {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K, V, E> fmt::Debug for Scheduler<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("stats", &self.stats())
            .finish()
    }
}
