//! End-to-end tests of `lockfetch fetch` against the mock registry on loopback: the binary is run
//! as a child process (with a deadline, so a hang fails fast), its exit code, JSON and messages
//! are checked, and the cache is re-hashed after every run.

mod common;

use std::path::Path;

use common::{Run, World, run_with_deadline};
use lockfetch::registry::Fault;

/// The one failure of a run's JSON, which must name `key`.
fn single_failure(run: &Run, key: &str) -> String {
    let json = run.json();
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{run:?}");
    assert_eq!(failed[0]["package"], key, "{run:?}");
    let error = failed[0]["error"].as_str().unwrap().to_string();
    assert!(
        run.stderr.contains(key),
        "stderr names the package: {run:?}"
    );
    error
}

#[test]
fn clean_fetch_then_rerun_fetches_nothing() {
    let world = World::new(40);
    let n = world.universe.packages.len();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();

    // The schema: exactly these keys, with these types.
    let obj = json.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bytes",
            "cached",
            "duplicate_fetches",
            "failed",
            "fetched",
            "integrity_verified",
            "packages",
            "promotions",
            "skipped",
            "wall_ms"
        ]
    );
    for key in keys.iter().filter(|k| **k != "failed") {
        assert!(obj[*key].is_u64(), "{key} is a count: {json}");
    }
    assert!(json["failed"].as_array().unwrap().is_empty());

    assert_eq!(json["packages"], n);
    assert_eq!(json["fetched"], n);
    assert_eq!(json["cached"], 0);
    assert_eq!(json["duplicate_fetches"], 0);
    assert_eq!(json["integrity_verified"], n);
    assert_eq!(json["bytes"], world.universe.total_bytes());
    // 40 prefetches against 8 slots: the demands promote the queued ones.
    assert!(json["promotions"].as_u64().unwrap() > 0, "{json}");

    let stats = world.registry.stats();
    assert_eq!(stats.requests, n as u64);
    assert_eq!(stats.duplicate_requests, 0);
    assert_eq!(world.check_cache().len(), n);

    // Files are named by hash, never by package name.
    let names = walk(&world.cache());
    for p in &world.universe.packages {
        let short = p.name.rsplit('/').next().unwrap();
        assert!(
            !names.iter().any(|f| f.contains(short)),
            "{short} in {names:?}"
        );
    }

    // A re-run downloads nothing.
    world.registry.reset_counts();
    let again = world.fetch(&[]);
    assert_eq!(again.code, 0, "{again:?}");
    let json = again.json();
    assert_eq!(json["fetched"], 0);
    assert_eq!(json["cached"], n);
    assert_eq!(json["bytes"], 0);
    assert_eq!(world.registry.stats().requests, 0);
    assert!(again.stderr.contains("already cached"), "{again:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        out.push(e.file_name().to_string_lossy().into_owned());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[test]
fn not_found_is_permanent() {
    let world = World::new(12);
    world.registry.inject(&world.path(3), Fault::Status(404));
    let run = world.fetch(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(3));
    assert!(error.contains("HTTP status 404"), "{error}");
    assert!(
        error.contains(&world.path(3)),
        "error names the URL: {error}"
    );
    assert_eq!(
        world.registry.requests_for(&world.path(3)),
        1,
        "404 is not retried"
    );
    assert_eq!(run.json()["fetched"], 11);
    assert!(!world.cached(3));
    assert_eq!(world.check_cache().len(), 11);
}

#[test]
fn server_errors_are_retried_then_reported() {
    let world = World::new(12);
    world.registry.inject(&world.path(1), Fault::Status(503));
    world
        .registry
        .inject_times(&world.path(2), Fault::Status(500), 2);
    let run = world.fetch(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(1));
    assert!(error.contains("HTTP status 503"), "{error}");
    assert!(error.contains("after 3 attempts"), "{error}");
    assert_eq!(world.registry.requests_for(&world.path(1)), 3);
    // Two 500s, then success on the third attempt.
    assert_eq!(world.registry.requests_for(&world.path(2)), 3);
    assert!(world.cached(2));
    assert_eq!(world.check_cache().len(), 11);

    // Once the server recovers, a re-run fetches just the missing one.
    world.registry.clear_faults();
    world.registry.reset_counts();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 1);
    assert_eq!(world.registry.stats().requests, 1);
    assert_eq!(world.check_cache().len(), 12);
}

#[test]
fn reset_mid_body_is_retried_then_reported() {
    let world = World::new(10);
    world
        .registry
        .inject(&world.path(0), Fault::Reset { after: 100 });
    world
        .registry
        .inject_times(&world.path(1), Fault::Reset { after: 10 }, 1);
    let run = world.fetch(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(0));
    assert!(
        error.contains("connection reset") || error.contains("truncated"),
        "{error}"
    );
    assert!(error.contains("after 3 attempts"), "{error}");
    assert_eq!(world.registry.requests_for(&world.path(0)), 3);
    assert!(world.cached(1), "one reset, then success");
    assert_eq!(world.check_cache().len(), 9);
}

#[test]
fn truncated_body_is_retried_then_reported() {
    let world = World::new(10);
    world
        .registry
        .inject(&world.path(4), Fault::Truncate { after: 100 });
    let run = world.fetch(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(4));
    let size = world.universe.packages[4].size();
    assert!(
        error.contains(&format!("received 100 of {size} bytes")),
        "{error}"
    );
    assert_eq!(world.registry.requests_for(&world.path(4)), 3);
    assert_eq!(world.check_cache().len(), 9);
}

#[test]
fn wrong_bytes_fail_the_integrity_check() {
    let world = World::new(10);
    world.registry.inject(&world.path(5), Fault::Corrupt);
    let run = world.fetch(&[]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(5));
    assert!(
        error.starts_with("integrity mismatch: expected sha512-"),
        "{error}"
    );
    assert_eq!(
        world.registry.requests_for(&world.path(5)),
        1,
        "a mismatch is not retried"
    );
    assert!(!world.cached(5));
    assert_eq!(world.check_cache().len(), 9);
    assert_eq!(run.json()["integrity_verified"], 9);
}

#[test]
fn stalled_body_times_out() {
    let world = World::new(6);
    let stall = Fault::Stall {
        after: 50,
        duration: None,
    };
    world.registry.inject(&world.path(2), stall);
    let run = world.fetch(&["--attempts", "2", "--read-timeout-ms", "300"]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = single_failure(&run, &world.key(2));
    assert!(error.contains("timed out after 300ms"), "{error}");
    assert!(error.contains("after 2 attempts"), "{error}");
    assert_eq!(world.check_cache().len(), 5);
}

/// A setup error: exit 2, one `error:` line on stderr, a JSON `{"error"}` on stdout.
fn setup_error(run: &Run) -> String {
    assert_eq!(run.code, 2, "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {run:?}");
    assert!(lines[0].starts_with("error: "), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    let json = run.json();
    assert_eq!(json["error"].as_str(), Some(&lines[0]["error: ".len()..]));
    lines[0].to_string()
}

#[test]
fn malformed_yaml_names_the_line() {
    let world = World::new(3);
    world.write_lockfile("lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {resolution: [\n\n");
    let line = setup_error(&world.fetch(&[]));
    let path = world.lockfile().display().to_string();
    assert!(line.starts_with(&format!("error: {path}:")), "{line}");
    assert!(line.contains("malformed lockfile"), "{line}");
    assert!(!world.cache().join("sha512").exists());
}

#[test]
fn unsupported_lockfile_version() {
    let world = World::new(3);
    let text = world
        .universe
        .lockfile()
        .replace("lockfileVersion: '9.0'", "lockfileVersion: '6.0'");
    world.write_lockfile(&text);
    let line = setup_error(&world.fetch(&[]));
    assert!(line.contains("unsupported lockfileVersion '6.0'"), "{line}");
    assert!(line.contains("pnpm-lock.yaml:1:"), "{line}");
}

#[test]
fn missing_lockfile() {
    let world = World::new(3);
    std::fs::remove_file(world.lockfile()).unwrap();
    let line = setup_error(&world.fetch(&[]));
    assert!(line.contains("cannot read lockfile"), "{line}");
}

#[test]
fn missing_integrity_needs_the_flag() {
    let world = World::new(4);
    let text = world.universe.lockfile();
    let integrity = &world.universe.packages[0].integrity;
    let text = text.replace(&format!("{{integrity: {integrity}}}"), "{}");
    world.write_lockfile(&text);
    let line = setup_error(&world.fetch(&[]));
    assert!(line.contains(&world.key(0)), "{line}");
    assert!(line.contains("--allow-missing-integrity"), "{line}");

    let run = world.fetch(&["--allow-missing-integrity"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["fetched"], 4);
    assert_eq!(json["integrity_verified"], 3);
    // Stored under the sha512 of what arrived, which is the right one here.
    assert!(world.cached(0));
}

#[test]
fn registry_from_environment_and_npmrc_or_a_clear_error() {
    let world = World::new(3);
    let line = setup_error(&world.fetch(&["--no-registry-flag"]));
    assert!(
        line.contains("no registry configured (npm is not on PATH, so npm's default is unknown)"),
        "{line}"
    );
    assert!(line.contains("--registry"), "{line}");

    let url = world.registry.url();
    let lockfile = world.lockfile();
    let cache = world.cache();
    let args = [
        "fetch",
        "--lockfile",
        lockfile.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--json",
    ];
    let run = world.run(&args, &[("npm_config_registry", &format!("{url}/"))]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 3);

    std::fs::remove_dir_all(&cache).unwrap();
    let home_rc = world.dir.path().join("home/.npmrc");
    std::fs::write(&home_rc, format!("registry={url}\n")).unwrap();
    let run = world.run(&args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 3);

    // ./.npmrc wins over ~/.npmrc.
    std::fs::remove_dir_all(&cache).unwrap();
    std::fs::write(&home_rc, "registry=http://127.0.0.1:1\n").unwrap();
    std::fs::write(world.work().join(".npmrc"), format!("registry = {url}/\n")).unwrap();
    let run = world.run(&args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(world.check_cache().len(), 3);
}

#[test]
fn without_any_registry_configured_npm_s_default_applies() {
    let world = World::new(3);
    world.fake_npm(&format!("{}/", world.registry.url()));
    let run = world.fetch(&["--no-registry-flag", "--verbose"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 3);
    assert!(
        run.stderr
            .contains("(from npm's default (`npm config get registry`))"),
        "{run:?}"
    );
    // A configured registry wins: npm is not asked (this one would fail the run).
    world.fake_npm("not a URL");
    std::fs::write(
        world.work().join(".npmrc"),
        format!("registry={}/\n", world.registry.url()),
    )
    .unwrap();
    std::fs::remove_dir_all(world.cache()).unwrap();
    let run = world.fetch(&["--no-registry-flag"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn lockfile_flag_takes_the_project_directory() {
    let world = World::new(3);
    let url = world.registry.url();
    // The registry comes from the project's .npmrc: the directory given is the project.
    std::fs::write(world.work().join(".npmrc"), format!("registry={url}/\n")).unwrap();
    let elsewhere = world.dir.path().join("home");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let project = world.work();
    let cache = world.cache();
    let args = [
        "fetch",
        "--lockfile",
        project.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--json",
    ];
    let mut cmd = world.command(&args, &[]);
    cmd.current_dir(&elsewhere);
    let run = run_with_deadline(cmd);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 3);
    assert_eq!(world.check_cache().len(), 3);

    // A directory without a lockfile names the file it looked for.
    let empty = world.dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let line = setup_error(&world.run(
        &["fetch", "--lockfile", empty.to_str().unwrap(), "--json"],
        &[],
    ));
    assert!(
        line.contains(&empty.join("pnpm-lock.yaml").display().to_string()),
        "{line}"
    );
}

#[test]
fn unwritable_cache_dir() {
    let world = World::new(3);
    // A file where the directory should be: unusable even for root.
    let blocker = world.dir.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let cache = blocker.join("cache");
    let registry = world.registry.url();
    let lockfile = world.lockfile();
    let args = [
        "fetch",
        "--lockfile",
        lockfile.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
        "--registry",
        registry.as_str(),
        "--json",
    ];
    let line = setup_error(&world.run(&args, &[]));
    assert!(line.contains("cache directory unusable"), "{line}");
    assert!(line.contains(&cache.display().to_string()), "{line}");
    assert_eq!(world.registry.stats().requests, 0);
}

#[test]
fn bad_arguments_exit_non_zero_without_panicking() {
    let world = World::new(1);
    let lockfile = world.lockfile();
    let url = world.registry.url();
    let args = [
        "fetch",
        "--lockfile",
        lockfile.to_str().unwrap(),
        "--registry",
        &url,
    ];
    let run = world.run(
        &[&args[..], &["--json", "--concurrency", "0"]].concat(),
        &[],
    );
    let line = setup_error(&run);
    assert!(line.contains("invalid options"), "{line}");
    let run = world.run(&["fetch", "--no-such-flag"], &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
}

#[test]
fn resolution_tarball_needs_no_registry() {
    let world = World::new(1);
    let package = &world.universe.packages[0];
    let url = world.registry.tarball_url(&package.name, &package.version);
    let text = world.universe.lockfile().replace(
        &format!("{{integrity: {}}}", package.integrity),
        &format!("{{tarball: '{url}', integrity: {}}}", package.integrity),
    );
    world.write_lockfile(&text);
    let run = world.fetch(&["--no-registry-flag"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 1);
    assert_eq!(world.registry.requests_for(&world.path(0)), 1);
    assert_eq!(world.check_cache().len(), 1);
}
