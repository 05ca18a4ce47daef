//! Done keys read and forgotten without the lock (rows T21, T22).
//!
//! A done key's outcome lives in the [`Store`], apart from the lock, so the warm path (`peek`, a
//! `get` of a kept key) never meets the lock. These functions take no `Core`: they are the
//! transitions of a done key, named here so that every transition is found from this module.
//! Without the lock a key may be claimed or ended concurrently; that is harmless, as each answer
//! is one that the request could have got a moment earlier or later.

use std::borrow::Borrow;
use std::hash::Hash;

use super::Core;
use crate::store::{Kept, Store};

impl<K: Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// T21 for `get`: the kept outcome of `key`, if it is done.
    pub(crate) fn kept(store: &Store<K, V, E>, hash: u64, key: &K) -> Option<Kept<V, E>> {
        store.get(hash, key)
    }

    /// T21 for `prefetch`: whether `key` is done.
    pub(crate) fn is_kept(store: &Store<K, V, E>, hash: u64, key: &K) -> bool {
        store.contains(hash, key)
    }

    /// T21 for `peek` and `get_blocking`: the kept value of `key`, if it succeeded.
    pub(crate) fn kept_value<Q>(store: &Store<K, V, E>, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        store.get_value(hash, key)
    }

    /// T22: drops what is kept for `key`; whether anything was. A job in flight is not touched.
    pub(crate) fn forget<Q>(store: &Store<K, V, E>, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        store.remove(hash, key)
    }
}
