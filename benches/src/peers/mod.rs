//! The peer patterns, one file each, written from how their projects use them (not copied).
//!
//! | module | whose pattern | structure |
//! |---|---|---|
//! | [`std_hashmap`] | the floor | `std::collections::HashMap::get` + clone |
//! | [`dashmap_notify`] | pacquet (pnpm's Rust port), `pnpm/crates/tarball` | `DashMap<String, Arc<tokio::sync::RwLock<CacheValue>>>` + `tokio::sync::Notify` |
//! | [`papaya_notify`] | uv, `crates/uv-once-map` (`OnceMap`) | a concurrent map of `Waiting(Arc<Notify>)` / `Filled(V)`, on `papaya` |
//! | [`moka_get_with`] | the `moka` crate | `moka::future::Cache::get_with` (the `_by_ref` form) |
//!
//! All of them use the same key type, value type and hasher as ours (see the [crate docs](crate)).

pub mod dashmap_notify;
pub mod moka_get_with;
pub mod papaya_notify;
pub mod std_hashmap;
