//! Interrupted runs: Ctrl-C (SIGINT) and `kill -9` mid-run leave a cache of complete, verified
//! files, and a re-run fetches exactly what is missing.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{World, wait_with_deadline};
use lockfetch::registry::Shaping;

const PACKAGES: usize = 100;

/// 100 packages of ~8 kB at 50 kB/s: a run takes ~16 s, so it is surely mid-way when stopped.
fn slow_world() -> World {
    World::slow(PACKAGES, 50_000)
}

/// Spawns a fetch and waits until at least `n` packages are in the cache.
fn start_and_wait_for(world: &World, n: usize) -> std::process::Child {
    let args = world.fetch_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = world.command(&args, &[]).spawn().expect("spawn lockfetch");
    let start = Instant::now();
    while world.entries() < n {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("lockfetch ended before {n} packages were fetched: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{n} packages not fetched within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// A re-run at full speed: it must fetch exactly the packages missing after the stop.
fn rerun_fetches_exactly_the_rest(world: &World, had: usize) {
    world.registry.set_shaping(Shaping::none());
    world.registry.reset_counts();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["cached"], had, "{run:?}");
    assert_eq!(json["fetched"], PACKAGES - had, "{run:?}");
    let stats = world.registry.stats();
    assert_eq!(stats.requests, (PACKAGES - had) as u64);
    assert_eq!(stats.duplicate_requests, 0);
    assert_eq!(world.check_cache().len(), PACKAGES);
}

#[test]
fn ctrl_c_stops_at_once_and_leaves_a_valid_cache() {
    let world = slow_world();
    let child = start_and_wait_for(&world, 5);
    let signalled = Instant::now();
    // The shell's built-in `kill`: nothing to install.
    let status = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let run = wait_with_deadline(child);
    let took = signalled.elapsed();
    eprintln!("stopped {took:?} after SIGINT");
    // Far below the ~16 s the whole run takes: the running downloads were dropped, not finished.
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to stop: {run:?}"
    );
    assert_eq!(run.code, 130, "{run:?}");

    let last = run.stderr.lines().last().unwrap_or_default();
    let had = world.check_cache().len();
    assert_eq!(
        last,
        format!("interrupted: {had} of {PACKAGES} fetched; run again to finish"),
        "{run:?}"
    );
    assert!(had < PACKAGES, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    rerun_fetches_exactly_the_rest(&world, had);
}

#[test]
fn kill_9_leaves_complete_files_and_a_rerun_cleans_up() {
    let world = slow_world();
    let mut child = start_and_wait_for(&world, 5);
    child.kill().unwrap();
    child.wait().unwrap();

    // The dead run's temp directory is still there (with its partial downloads), but every
    // file under a hash name is whole and verified.
    let tmp = world.cache().join("tmp");
    let litter: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
    assert_eq!(litter.len(), 1, "one run directory: {litter:?}");
    let had = world.check_entries().len();
    assert!((5..PACKAGES).contains(&had), "{had}");

    rerun_fetches_exactly_the_rest(&world, had);
    // check_cache (in the re-run check) found `tmp/` empty: the dead run's litter is gone.
}
