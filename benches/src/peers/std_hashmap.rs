//! The floor of the `hit` group: a plain `HashMap<String, V>` with our hasher, no synchronisation
//! at all. Nothing concurrent can be cheaper than this.

use std::collections::HashMap;

use crate::Hasher;

/// A plain, single-threaded map of done keys.
#[derive(Debug, Default)]
pub struct StdHashMap<V> {
    map: HashMap<String, V, Hasher>,
}

impl<V: Clone> StdHashMap<V> {
    /// An empty map.
    pub fn new() -> Self {
        StdHashMap {
            map: HashMap::with_hasher(Hasher::default()),
        }
    }

    /// Keeps `value` for `key`.
    pub fn insert(&mut self, key: String, value: V) {
        self.map.insert(key, value);
    }

    /// The value of `key`, cloned.
    #[inline]
    pub fn get(&self, key: &str) -> Option<V> {
        self.map.get(key).cloned()
    }
}
