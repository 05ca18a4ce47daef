//! Bytes per done key: ours against the floor and the peer patterns, measured with a counting
//! global allocator. Prints a table and writes `target/memory.json`.
//!
//! Each variant fills `n` done keys through its own request path (ours: `prefetch` every key,
//! then `get_all` them, then `drain`; the peers: their owner path, see `peers/`), is brought to
//! rest (moka runs its pending maintenance), and is measured as live heap bytes after minus before.
//! Everything the variant holds is counted: its own copy of each key (a ~60-byte `String`), each
//! value (an `Arc<u64>`, 24 bytes), table slack, and whatever capacity its in-flight bookkeeping
//! kept after the jobs ended. A warm-up round of every variant runs first, so lazily allocated
//! thread-locals (epoch guards, runtime buffers) are not charged to the first variant measured.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use fetch_scheduler_benches::keys::tarball_urls;
use fetch_scheduler_benches::ours;
use fetch_scheduler_benches::peers::dashmap_notify::DashmapNotify;
use fetch_scheduler_benches::peers::moka_get_with::MokaGetWith;
use fetch_scheduler_benches::peers::papaya_notify::PapayaNotify;
use fetch_scheduler_benches::peers::std_hashmap::StdHashMap;
use fetch_scheduler_benches::poll::poll_once;
use fetch_scheduler_benches::{Value, target_dir};
use fetch_scheduler_tokio::TokioRuntime;
use futures_lite::StreamExt;

/// Live heap bytes and live blocks, process-wide.
static BYTES: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

/// Forwards every call to [`System`] and keeps count of live bytes and blocks.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the counters are plain atomics and never touch the allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
            BLOCKS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from this allocator (so from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> (isize, isize) {
    (BYTES.load(Ordering::SeqCst), BLOCKS.load(Ordering::SeqCst))
}

fn value_of(key: &str) -> Value {
    Value::new(key.len() as u64)
}

/// One variant's footprint for `n` keys.
struct Row {
    name: &'static str,
    keys: usize,
    bytes: isize,
    blocks: isize,
}

/// Builds the variant with `fill`, measures it at rest, then drops it.
fn measure<T>(name: &'static str, keys: &[String], fill: impl FnOnce(&[String]) -> T) -> Row {
    let (bytes0, blocks0) = live();
    let held = fill(keys);
    let (bytes1, blocks1) = live();
    drop(held);
    Row {
        name,
        keys: keys.len(),
        bytes: bytes1 - bytes0,
        blocks: blocks1 - blocks0,
    }
}

fn all_variants(rt: &tokio::runtime::Runtime, keys: &[String]) -> Vec<Row> {
    vec![
        measure("std_hashmap", keys, |keys| {
            let mut map = StdHashMap::new();
            for key in keys {
                map.insert(key.clone(), value_of(key));
            }
            map
        }),
        measure("fetch_scheduler", keys, |keys| {
            let sched = ours::instant(TokioRuntime::new(rt.handle().clone()), 64);
            for key in keys {
                sched.prefetch(key.clone());
            }
            let got = rt.block_on(sched.get_all(keys.iter().cloned()).count());
            assert_eq!(got, keys.len());
            rt.block_on(sched.drain());
            sched
        }),
        // Not a peer: the same scheduler filled one key at a time (at most one job in flight), which
        // isolates the store of done keys from the capacity the in-flight bookkeeping keeps.
        measure("fetch_scheduler_sequential", keys, |keys| {
            let sched = ours::instant(TokioRuntime::new(rt.handle().clone()), 64);
            for key in keys {
                rt.block_on(sched.get(key.clone())).expect("instant fetch");
            }
            sched
        }),
        measure("dashmap_notify", keys, |keys| {
            let cache = DashmapNotify::new();
            for key in keys {
                let got = poll_once(cache.get_or_fetch(key, || async { Ok(value_of(key)) }));
                assert!(matches!(got, Some(Ok(_))));
            }
            cache
        }),
        measure("papaya_notify", keys, |keys| {
            let map = PapayaNotify::new();
            for key in keys {
                assert!(poll_once(map.get_or_fetch(key, || async { value_of(key) })).is_some());
            }
            map
        }),
        measure("moka_get_with", keys, |keys| {
            let cache = MokaGetWith::new();
            for key in keys {
                assert!(poll_once(cache.get_with(key, async { value_of(key) })).is_some());
            }
            futures_lite::future::block_on(cache.sync());
            cache
        }),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|arg| arg == "--bench") {
        // `cargo test --all-targets` runs bench targets without `--bench`: nothing to check here.
        println!("memory: skipped (run it with `cargo bench`)");
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|arg| !arg.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "memory".contains(f.as_str())) {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Warm-up: lazily allocated thread-locals and runtime buffers are not charged to anyone.
    all_variants(&rt, &tarball_urls(1000));

    let mut rows = Vec::new();
    for n in [1355, 10_000, 100_000] {
        let keys = tarball_urls(n);
        let payload: usize = keys.iter().map(|k| k.len()).sum::<usize>() / n + 24;
        println!("\n{n} done keys (payload, a key's bytes + its value's 24: {payload} B/key)");
        println!(
            "{:<26} {:>10} {:>8} {:>14} {:>10}",
            "variant", "bytes/key", "x floor", "overhead B/key", "blocks/key"
        );
        let measured = all_variants(&rt, &keys);
        let floor = measured[0].bytes as f64 / n as f64;
        for row in &measured {
            let per_key = row.bytes as f64 / n as f64;
            println!(
                "{:<26} {:>10.1} {:>8.2} {:>14.1} {:>10.2}",
                row.name,
                per_key,
                per_key / floor,
                per_key - payload as f64,
                row.blocks as f64 / n as f64
            );
        }
        rows.extend(measured.into_iter().map(|row| (row, payload)));
    }

    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|(row, payload)| {
            serde_json::json!({
                "name": row.name,
                "keys": row.keys,
                "bytes": row.bytes,
                "bytes_per_key": row.bytes as f64 / row.keys as f64,
                "blocks_per_key": row.blocks as f64 / row.keys as f64,
                "payload_bytes_per_key": payload,
            })
        })
        .collect();
    let path = target_dir().join("memory.json");
    let text = serde_json::to_string_pretty(&serde_json::json!({ "results": json })).expect("json");
    match std::fs::write(&path, text) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(error) => eprintln!("cannot write {}: {error}", path.display()),
    }
}
