//! How a running attempt changes what its job holds against the byte budget: through the
//! scheduler lock, like every transition (rows T25, T26 of the table in `core.rs`).

use std::hash::Hash;

use crate::core::Effects;
use crate::inner::Inner;
use crate::sync::Arc;

/// The key-independent view a [`JobContext`](crate::JobContext) holds of its attempt's bytes.
pub(crate) trait Weigh: Send + Sync {
    fn set_weight(&self, bytes: u64);
    fn release(&self);
}

/// One attempt of one job, as the core knows it.
pub(crate) struct AttemptBytes<K, V, E> {
    pub(crate) inner: Arc<Inner<K, V, E>>,
    pub(crate) id: usize,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
}

impl<K, V, E> Weigh for AttemptBytes<K, V, E>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn set_weight(&self, bytes: u64) {
        let mut fx = Effects::new();
        self.inner
            .lock()
            .set_weight(self.id, self.seq, self.attempt, bytes, &mut fx); // T25
        Inner::apply(&self.inner, fx);
    }

    fn release(&self) {
        let mut fx = Effects::new();
        self.inner
            .lock()
            .release_bytes(self.id, self.seq, self.attempt, &mut fx); // T26
        Inner::apply(&self.inner, fx);
    }
}
