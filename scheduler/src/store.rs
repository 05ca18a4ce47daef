//! Kept results: the done keys, readable without touching the scheduler lock.
//!
//! A fixed set of shards, each a `RwLock` around a hash table that takes the caller's precomputed
//! hash, so a read hashes the key once and takes one uncontended read lock. Writes happen only when
//! a job ends or a key is forgotten.

use std::borrow::Borrow;
use std::hash::Hash;

use hashbrown::HashTable;

use crate::error::Error;
use crate::sync::RwLock;

const SHARDS: usize = 32;

/// What a done key holds: its value, or the permanent error it failed with.
pub(crate) type Kept<V, E> = Result<V, Error<E>>;

/// Values and permanent errors apart: values are nearly everything, and an entry of `(K, V)` is
/// smaller than one of `(K, Result<V, Error<E>>)`.
struct Tables<K, V, E> {
    values: HashTable<(K, V)>,
    errors: HashTable<(K, Error<E>)>,
}

/// One shard, alone on its cache lines (128 bytes: the pair of lines x86 prefetches together), so
/// a task writing one shard does not take the line of a neighbour another thread is reading.
#[repr(align(128))]
struct Shard<K, V, E>(RwLock<Tables<K, V, E>>);

pub(crate) struct Store<K, V, E> {
    shards: Box<[Shard<K, V, E>]>,
}

impl<K: Eq + Hash, V: Clone, E> Store<K, V, E> {
    pub(crate) fn new() -> Self {
        Store {
            shards: (0..SHARDS)
                .map(|_| {
                    Shard(RwLock::new(Tables {
                        values: HashTable::new(),
                        errors: HashTable::new(),
                    }))
                })
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> &Shard<K, V, E> {
        // hashbrown indexes buckets with the low bits and tags with the top 7; shard on bits between.
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    fn read(&self, hash: u64) -> impl std::ops::Deref<Target = Tables<K, V, E>> + '_ {
        self.shard(hash).0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self, hash: u64) -> impl std::ops::DerefMut<Target = Tables<K, V, E>> + '_ {
        self.shard(hash)
            .0
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The kept outcome of `key`, cloned.
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Kept<V, E>> {
        let shard = self.read(hash);
        if let Some((_, value)) = shard.values.find(hash, |(k, _)| k == key) {
            return Some(Ok(value.clone()));
        }
        if shard.errors.is_empty() {
            return None;
        }
        shard
            .errors
            .find(hash, |(k, _)| k == key)
            .map(|(_, error)| Err(error.clone()))
    }

    /// The kept value of `key`, if it succeeded.
    pub(crate) fn get_value<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.read(hash)
            .values
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, value)| value.clone())
    }

    /// Whether anything is kept for `key`.
    pub(crate) fn contains(&self, hash: u64, key: &K) -> bool {
        let shard = self.read(hash);
        shard.values.find(hash, |(k, _)| k == key).is_some()
            || (!shard.errors.is_empty() && shard.errors.find(hash, |(k, _)| k == key).is_some())
    }

    /// Keeps `kept` for `key`, replacing what was kept before (nothing, normally: a key is put
    /// here only by the job that was in flight for it).
    pub(crate) fn insert(&self, hash: u64, key: K, kept: Kept<V, E>, hasher: impl Fn(&K) -> u64) {
        let mut shard = self.write(hash);
        let Tables { values, errors } = &mut *shard;
        match kept {
            Ok(value) => {
                Self::put(values, hash, key, value, &hasher);
            }
            Err(error) => {
                Self::put(errors, hash, key, error, &hasher);
            }
        }
    }

    fn put<T>(
        table: &mut HashTable<(K, T)>,
        hash: u64,
        key: K,
        item: T,
        hasher: &impl Fn(&K) -> u64,
    ) {
        match table.entry(hash, |(k, _)| *k == key, |(k, _)| hasher(k)) {
            hashbrown::hash_table::Entry::Occupied(mut entry) => entry.get_mut().1 = item,
            hashbrown::hash_table::Entry::Vacant(entry) => drop(entry.insert((key, item))),
        }
    }

    /// Drops what is kept for `key`; whether there was anything.
    pub(crate) fn remove<Q>(&self, hash: u64, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let mut shard = self.write(hash);
        if let Ok(entry) = shard.values.find_entry(hash, |(k, _)| k.borrow() == key) {
            drop(entry.remove());
            return true;
        }
        match shard.errors.find_entry(hash, |(k, _)| k.borrow() == key) {
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
            .map(|s| {
                let tables = s.0.read().unwrap_or_else(|p| p.into_inner());
                tables.values.len() + tables.errors.len()
            })
            .sum()
    }
}
