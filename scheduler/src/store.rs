//! Kept results: the done keys, readable without touching the scheduler lock.
//!
//! A fixed set of shards, each a `RwLock` around a hash table that takes the caller's precomputed
//! hash, so a read hashes the key once and takes one uncontended read lock. Writes happen only when
//! a job ends or a key is forgotten.

use std::hash::Hash;

use hashbrown::HashTable;

use crate::error::Error;
use crate::sync::RwLock;

const SHARDS: usize = 32;

/// What a done key holds: its value, or the permanent error it failed with.
pub(crate) type Kept<V, E> = Result<V, Error<E>>;

type Shard<K, V, E> = RwLock<HashTable<(K, Kept<V, E>)>>;

pub(crate) struct Store<K, V, E> {
    shards: Box<[Shard<K, V, E>]>,
}

impl<K: Eq + Hash, V: Clone, E> Store<K, V, E> {
    pub(crate) fn new() -> Self {
        Store {
            shards: (0..SHARDS).map(|_| RwLock::new(HashTable::new())).collect(),
        }
    }

    fn shard(&self, hash: u64) -> &Shard<K, V, E> {
        // hashbrown indexes buckets with the low bits and tags with the top 7; shard on bits between.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The kept outcome of `key`, cloned.
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Kept<V, E>> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard
            .find(hash, |(k, _)| k == key)
            .map(|(_, kept)| kept.clone())
    }

    /// The kept value of `key`, if it succeeded.
    pub(crate) fn get_value(&self, hash: u64, key: &K) -> Option<V> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        match shard.find(hash, |(k, _)| k == key) {
            Some((_, Ok(v))) => Some(v.clone()),
            _ => None,
        }
    }

    /// Whether anything is kept for `key`.
    pub(crate) fn contains(&self, hash: u64, key: &K) -> bool {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        shard.find(hash, |(k, _)| k == key).is_some()
    }

    /// Keeps `kept` for `key`. The caller guarantees `key` is not already kept (it was in flight).
    pub(crate) fn insert(&self, hash: u64, key: K, kept: Kept<V, E>, hasher: impl Fn(&K) -> u64) {
        let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        shard.insert_unique(hash, (key, kept), |(k, _)| hasher(k));
    }

    /// Drops what is kept for `key`; whether there was anything.
    pub(crate) fn remove(&self, hash: u64, key: &K) -> bool {
        let mut shard = self.shard(hash).write().unwrap_or_else(|p| p.into_inner());
        match shard.find_entry(hash, |(k, _)| k == key) {
            Ok(entry) => {
                drop(entry.remove());
                true
            }
            Err(_) => false,
        }
    }

    /// How many keys are kept (values and permanent errors).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}
