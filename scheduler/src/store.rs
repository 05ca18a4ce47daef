//! Kept results: the done keys, readable without touching the scheduler lock.
//!
//! One `RwLock` around hash tables that take the caller's precomputed hash, so a read hashes the
//! key once and takes one read lock. Writes happen only when a job ends or a key is forgotten.

use std::borrow::Borrow;
use std::hash::Hash;

use hashbrown::HashTable;

use crate::error::Error;
use crate::sync::RwLock;

/// What a done key holds: its value, or the permanent error it failed with.
pub(crate) type Kept<V, E> = Result<V, Error<E>>;

/// Values and permanent errors apart: values are nearly everything, and an entry of `(K, V)` is
/// smaller than one of `(K, Result<V, Error<E>>)`.
struct Tables<K, V, E> {
    values: HashTable<(K, V)>,
    errors: HashTable<(K, Error<E>)>,
}

pub(crate) struct Store<K, V, E> {
    tables: RwLock<Tables<K, V, E>>,
}

impl<K: Eq + Hash, V: Clone, E> Store<K, V, E> {
    pub(crate) fn new() -> Self {
        Store {
            tables: RwLock::new(Tables {
                values: HashTable::new(),
                errors: HashTable::new(),
            }),
        }
    }

    fn read(&self) -> impl std::ops::Deref<Target = Tables<K, V, E>> + '_ {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> impl std::ops::DerefMut<Target = Tables<K, V, E>> + '_ {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept outcome of `key`, cloned.
    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<Kept<V, E>> {
        let tables = self.read();
        if let Some((_, value)) = tables.values.find(hash, |(k, _)| k == key) {
            return Some(Ok(value.clone()));
        }
        if tables.errors.is_empty() {
            return None;
        }
        tables
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
        self.read()
            .values
            .find(hash, |(k, _)| k.borrow() == key)
            .map(|(_, value)| value.clone())
    }

    /// Whether anything is kept for `key`.
    pub(crate) fn contains(&self, hash: u64, key: &K) -> bool {
        let tables = self.read();
        tables.values.find(hash, |(k, _)| k == key).is_some()
            || (!tables.errors.is_empty() && tables.errors.find(hash, |(k, _)| k == key).is_some())
    }

    /// Keeps `kept` for `key`, replacing what was kept before (nothing, normally: a key is put
    /// here only by the job that was in flight for it).
    pub(crate) fn insert(&self, hash: u64, key: K, kept: Kept<V, E>, hasher: impl Fn(&K) -> u64) {
        let mut tables = self.write();
        let Tables { values, errors } = &mut *tables;
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
        let mut tables = self.write();
        if let Ok(entry) = tables.values.find_entry(hash, |(k, _)| k.borrow() == key) {
            drop(entry.remove());
            return true;
        }
        match tables.errors.find_entry(hash, |(k, _)| k.borrow() == key) {
            Ok(entry) => {
                drop(entry.remove());
                true
            }
            Err(_) => false,
        }
    }

    /// How many keys are kept (values and permanent errors).
    pub(crate) fn len(&self) -> usize {
        let tables = self.read();
        tables.values.len() + tables.errors.len()
    }
}
