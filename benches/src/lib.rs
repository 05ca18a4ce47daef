//! Shared pieces of the `fetch-scheduler` benchmarks.
//!
//! The bench targets live in `benches/benches/`:
//!
//! - `micro` — the criterion groups `hit`, `join`, `promotion_tokio`, `promotion_smol`,
//!   `throughput_tokio`, `throughput_smol`, `throughput_realistic_tokio`, `throughput_realistic_smol`;
//! - `memory` — bytes per done key, measured with a counting global allocator; prints a table and
//!   writes `target/memory.json`;
//! - `install_sim` — the install simulation at pacquet scale, writing `target/install-sim.json`;
//! - `byte_budget` — 2,000 small tarballs and 10 of 200 MB held in memory as they download, over a
//!   shaped link ([`link`]), with and without a byte budget; writes `target/byte-budget.json`.
//!
//! This library holds what they share: realistic keys ([`keys`]), our scheduler set up for each
//! scenario ([`ours`]), the peer patterns ([`peers`], one file each), a single-poll helper
//! ([`poll`]), latency percentiles ([`latency`]) and the output directory ([`target_dir`]).
//!
//! Every variant of every group uses the same key type (`String`, ~60-byte tarball URLs), the same
//! value type ([`Value`], an `Arc`) and the same hasher as ours ([`Hasher`],
//! `foldhash::fast::RandomState`), so a ratio measures the structure, not the hash function. The
//! peers would use SipHash by default; giving them foldhash is generous to them.

pub mod keys;
pub mod latency;
pub mod link;
pub mod ours;
pub mod peers;
pub mod poll;

use std::path::PathBuf;
use std::sync::Arc;

/// The value every variant stores and hands back: an `Arc`, as installers keep tarball indexes.
/// Every read returns an owned clone (one reference-count increment), in every variant.
pub type Value = Arc<u64>;

/// The hasher of every map in these benchmarks: the one `fetch_scheduler` uses.
pub type Hasher = foldhash::fast::RandomState;

/// The error type of the benchmark fetchers (they never fail).
pub type NoError = std::convert::Infallible;

/// Where bench outputs go: `$CARGO_TARGET_DIR` if set (relative to the workspace root when
/// relative), else the workspace's `target/`. Created if missing.
pub fn target_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace.join(dir)
            }
        }
        None => workspace.join("target"),
    };
    let _ = std::fs::create_dir_all(&dir);
    dir
}
