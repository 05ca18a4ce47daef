//! `lockfetch fetch` reading the project's setup: npm config files, platforms, resolutions that
//! have nothing to download, and cache files that are damaged.

mod common;

use common::World;
use lockfetch::integrity::Integrity;
use lockfetch::registry::Fault;

#[test]
fn only_this_platforms_packages_by_default() {
    let world = World::new(40);
    let needed = world.universe.needed_count();
    let others = world.universe.packages.len() - needed;
    assert!(others > 0, "the generator makes per-platform packages");

    let run = world.fetch(&["--this-platform"]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["fetched"], needed);
    assert_eq!(json["skipped"], others);
    assert_eq!(world.registry.stats().requests, needed as u64);
    assert!(
        run.stderr
            .contains(&format!("\nskipped: {others} for other platforms than ")),
        "{run:?}"
    );

    // Asking for the other platform (the generator's is sunos-arm64) fetches the rest.
    world.registry.reset_counts();
    let run = world.fetch(&[
        "--this-platform",
        "--os",
        "current",
        "--os",
        "sunos",
        "--cpu",
        "current",
        "--cpu",
        "arm64",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], others, "{run:?}");
    assert_eq!(run.json()["cached"], needed, "{run:?}");
    assert_eq!(world.check_cache().len(), needed + others);

    // The same from the project's pnpm setting, without flags.
    std::fs::write(
        world.work().join("pnpm-workspace.yaml"),
        "supportedArchitectures:\n  os: [current, sunos]\n  cpu: [current, arm64]\n",
    )
    .unwrap();
    let run = world.fetch(&["--this-platform"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["skipped"], 0, "{run:?}");
    assert_eq!(run.json()["cached"], needed + others, "{run:?}");
}

#[test]
fn directories_and_git_repositories_are_skipped_not_failed() {
    let world = World::new(3);
    let extra = "
  local-dir@file:local-dir:
    resolution: {directory: local-dir, type: directory}

  cloned@git+ssh://git@example.invalid/c.git#0123456789abcdef0123456789abcdef01234567:
    resolution: {commit: 0123456789abcdef0123456789abcdef01234567, repo: git+ssh://git@example.invalid/c.git, type: git}

  local-tgz@file:local.tgz:
    resolution: {integrity: sha512-m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==, tarball: file:local.tgz}
";
    let text =
        world
            .universe
            .lockfile()
            .replacen("\npackages:\n", &format!("\npackages:\n{extra}"), 1);
    world.write_lockfile(&text);
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    let json = run.json();
    assert_eq!(json["packages"], 6);
    assert_eq!(json["skipped"], 3);
    assert_eq!(json["fetched"], 3);
    assert!(
        run.stderr
            .contains("\nskipped: 1 git repository, 1 local directory, 1 local tarball"),
        "{run:?}"
    );
}

#[test]
fn damaged_cache_files_are_fetched_again() {
    let world = World::new(6);
    assert_eq!(world.fetch(&[]).code, 0);

    // The machine stopped during a run that had published packages 1 and 2, before their data
    // reached the disk: one is empty, one has wrong bytes. That run's temp directory, named after
    // an earlier boot, is still there.
    let dead = world
        .cache()
        .join("tmp/run-1-0123456789abcdef0123456789abcdef-x");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join("lock"), b"").unwrap();
    std::fs::write(world.cache_path(1), b"").unwrap();
    let mut bytes = std::fs::read(world.cache_path(2)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(world.cache_path(2), &bytes).unwrap();

    world.registry.reset_counts();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 2, "{run:?}");
    assert_eq!(world.registry.requests_for(&world.path(1)), 1);
    assert_eq!(world.registry.requests_for(&world.path(2)), 1);
    assert!(
        run.stderr.contains(
            "warning: cache: 2 entries written just before the machine stopped were damaged and removed"
        ),
        "{run:?}"
    );
    assert!(!dead.exists());

    // Wrong bytes without a crash (tampering, a failing disk): a look-up does not hash, so only
    // --verify finds it.
    let mut bytes = std::fs::read(world.cache_path(3)).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(world.cache_path(3), &bytes).unwrap();
    world.registry.reset_counts();
    let run = world.fetch(&[]);
    assert_eq!(run.json()["cached"], 6, "{run:?}");
    assert_eq!(world.registry.stats().requests, 0);
    let run = world.fetch(&["--verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 1, "{run:?}");
    assert_eq!(run.json()["cached"], 5, "{run:?}");
    assert!(run.stderr.contains("repaired: 1 damaged"), "{run:?}");
    assert_eq!(world.registry.requests_for(&world.path(3)), 1);
    assert_eq!(world.registry.stats().requests, 1);
    let entries = world.check_cache();
    assert_eq!(entries.len(), 6);
    let p3 = Integrity::parse(&world.universe.packages[3].integrity).unwrap();
    assert!(entries.contains(&p3));
}

#[test]
fn a_cache_of_the_earlier_layout_is_migrated_not_fetched_again() {
    let world = World::new(6);
    assert_eq!(world.fetch(&[]).code, 0);
    // Rename every entry to the earlier layout's name (`<hex[..2]>/<hex[2..]>-<size>`), as an
    // earlier version left it, and forget the layout.
    let v1 = |i: usize| {
        let path = world.cache_path(i);
        let hex = path.file_name().unwrap().to_str().unwrap().to_string();
        let size = world.universe.packages[i].size();
        path.parent()
            .unwrap()
            .join(&hex[..2])
            .join(format!("{}-{size}", &hex[2..]))
    };
    for i in 0..6 {
        std::fs::create_dir_all(v1(i).parent().unwrap()).unwrap();
        std::fs::rename(world.cache_path(i), v1(i)).unwrap();
    }
    // One of them cut short, as a crash under the earlier version left it.
    std::fs::write(v1(4), b"short").unwrap();
    std::fs::remove_file(world.cache().join("layout")).unwrap();

    world.registry.reset_counts();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("cache: 5 entries of an earlier layout renamed, 1 cut short removed"),
        "{run:?}"
    );
    assert_eq!(run.json()["cached"], 5, "{run:?}");
    assert_eq!(run.json()["fetched"], 1, "{run:?}");
    assert_eq!(world.registry.requests_for(&world.path(4)), 1);
    assert_eq!(world.check_cache().len(), 6);

    // Migrated once: the next run says nothing about it.
    let run = world.fetch(&[]);
    assert!(!run.stderr.contains("earlier layout"), "{run:?}");
    assert_eq!(run.json()["cached"], 6, "{run:?}");
}

#[test]
fn npmrc_retry_settings_apply() {
    let world = World::new(4);
    world.registry.inject(&world.path(1), Fault::Status(503));
    std::fs::write(
        world.work().join(".npmrc"),
        "fetch-retries=1\nfetch-retry-mintimeout=5\nnetwork-concurrency=2\n",
    )
    .unwrap();
    let run = world.fetch(&["--concurrency", "2"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(world.registry.requests_for(&world.path(1)), 2);
    let error = run.json()["failed"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.ends_with("(after 2 attempts)"), "{error}");

    // A bad value names its file and line.
    std::fs::write(world.work().join(".npmrc"), "\nfetch-retries=lots\n").unwrap();
    let run = world.fetch(&[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(".npmrc:2: `fetch-retries=lots`: expected a whole number"),
        "{run:?}"
    );
}

#[test]
fn refused_credentials_name_the_key_and_never_leak() {
    let world = World::new(3);
    world.registry.inject(&world.path(0), Fault::Status(401));
    let secret = "npm_s3cr3t_t0ken_value";
    let addr = world.registry.addr();
    std::fs::write(
        world.dir.path().join("home/.npmrc"),
        format!("//{addr}/:_authToken=${{MY_TOKEN}}\n"),
    )
    .unwrap();
    let args = world.fetch_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = world.run(&args, &[("MY_TOKEN", secret)]);
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.json()["failed"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("HTTP status 401"), "{error}");
    assert!(
        error.contains(&format!("set `//{addr}/:_authToken=…` in .npmrc")),
        "{error}"
    );
    assert!(
        !run.stdout.contains(secret) && !run.stderr.contains(secret),
        "{run:?}"
    );
    // An unset variable is reported, not silently sent.
    let run = world.run(&args, &[]);
    assert!(
        run.stderr
            .contains("${MY_TOKEN} is not set in the environment"),
        "{run:?}"
    );
}

#[test]
fn scoped_packages_go_to_their_registry() {
    use lockfetch::registry::{MockRegistry, Shaping};
    let world = World::new(30);
    let scoped: Vec<usize> = (0..world.universe.packages.len())
        .filter(|&i| world.universe.packages[i].name.starts_with('@'))
        .collect();
    let scope = world.universe.packages[scoped[0]]
        .name
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let in_scope: Vec<usize> = scoped
        .iter()
        .copied()
        .filter(|&i| {
            world.universe.packages[i]
                .name
                .starts_with(&format!("{scope}/"))
        })
        .collect();
    let corp = MockRegistry::for_universe(&world.universe, Shaping::none()).unwrap();
    std::fs::write(
        world.work().join(".npmrc"),
        format!(
            "registry={}\n{scope}:registry={}/\n",
            world.registry.url(),
            corp.url()
        ),
    )
    .unwrap();
    let run = world.fetch(&["--no-registry-flag"]);
    assert_eq!(run.code, 0, "{run:?}");
    let n = world.universe.packages.len();
    assert_eq!(corp.stats().requests, in_scope.len() as u64);
    assert_eq!(world.registry.stats().requests, (n - in_scope.len()) as u64);
    for &i in &in_scope {
        assert_eq!(corp.requests_for(&world.path(i)), 1);
        assert_eq!(world.registry.requests_for(&world.path(i)), 0);
    }
}

#[test]
fn runtime_variants_and_every_hash_algorithm() {
    use lockfetch::integrity::Algorithm;
    use std::sync::Arc;
    let world = World::new(2);
    let serve = |path: &str, bytes: &[u8]| {
        world.registry.insert_file(path, Arc::from(bytes));
        format!("{}{path}", world.registry.url())
    };
    let sri = |algo, bytes: &[u8]| Integrity::compute(algo, bytes).to_string();
    let (glibc, musl, mac) = (
        b"linux-x64".as_slice(),
        b"linux-x64-musl".as_slice(),
        b"darwin".as_slice(),
    );
    let (u_glibc, u_musl, u_mac) = (
        serve("/dist/node-linux-x64.tar.gz", glibc),
        serve("/dist/node-linux-x64-musl.tar.gz", musl),
        serve("/dist/node-darwin-arm64.tar.gz", mac),
    );
    let legacy = b"old tarball".as_slice();
    let u_legacy = serve("/legacy/old-1.0.0.tgz", legacy);
    // Several hashes in one entry: the strongest (sha384) is checked and names the file.
    let both = format!(
        "{} {}",
        sri(Algorithm::Sha1, legacy),
        sri(Algorithm::Sha384, legacy)
    );
    let variant = |url: &str, bytes: &[u8], target: &str| {
        format!(
            "        - resolution:\n            type: binary\n            archive: tarball\n            url: {url}\n            integrity: {}\n          targets:\n{target}",
            sri(Algorithm::Sha256, bytes)
        )
    };
    let extra = format!(
        "
  node@runtime:22.0.0:
    resolution:
      type: variations
      variants:
{}
{}
{}

  old@1.0.0:
    resolution: {{tarball: '{u_legacy}', integrity: '{both}'}}
",
        variant(&u_mac, mac, "            - {os: darwin, cpu: arm64}"),
        variant(
            &u_musl,
            musl,
            "            - {os: linux, cpu: x64, libc: musl}"
        ),
        variant(&u_glibc, glibc, "            - {os: linux, cpu: x64}"),
    );
    let text =
        world
            .universe
            .lockfile()
            .replacen("\npackages:\n", &format!("\npackages:\n{extra}"), 1);
    world.write_lockfile(&text);
    let platform = [
        "--this-platform",
        "--os",
        "linux",
        "--cpu",
        "x64",
        "--libc",
        "glibc",
    ];
    let run = world.fetch(&platform);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 4, "{run:?}");
    assert_eq!(run.json()["integrity_verified"], 4, "{run:?}");
    assert_eq!(
        world.registry.requests_for("/dist/node-linux-x64.tar.gz"),
        1
    );
    assert_eq!(
        world
            .registry
            .requests_for("/dist/node-linux-x64-musl.tar.gz"),
        0
    );
    assert_eq!(
        world
            .registry
            .requests_for("/dist/node-darwin-arm64.tar.gz"),
        0
    );
    let entries = world.check_cache();
    assert!(entries.contains(&Integrity::compute(Algorithm::Sha256, glibc)));
    assert!(entries.contains(&Integrity::compute(Algorithm::Sha384, legacy)));

    // musl picks the musl archive.
    let run = world.fetch(&[
        "--this-platform",
        "--os",
        "linux",
        "--cpu",
        "x64",
        "--libc",
        "musl",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        world
            .registry
            .requests_for("/dist/node-linux-x64-musl.tar.gz"),
        1
    );
}

#[test]
fn an_unreachable_host_outside_the_registry_is_named_not_the_registry_flags() {
    use lockfetch::integrity::Algorithm;
    let world = World::new(2);
    // A port nobody listens on, serving a runtime archive.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/dist/node-linux-x64.tar.gz");
    let sri = Integrity::compute(Algorithm::Sha256, b"node").to_string();
    let extra = format!(
        "
  node@runtime:22.0.0:
    resolution:
      type: variations
      variants:
        - resolution:
            type: binary
            archive: tarball
            url: {url}
            integrity: {sri}
          targets:
            - {{os: linux, cpu: x64}}
"
    );
    let text =
        world
            .universe
            .lockfile()
            .replacen("\npackages:\n", &format!("\npackages:\n{extra}"), 1);
    world.write_lockfile(&text);
    let run = world.fetch(&[
        "--this-platform",
        "--os",
        "linux",
        "--cpu",
        "x64",
        "--libc",
        "glibc",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    assert_eq!(json["fetched"], 2, "{run:?}");
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{run:?}");
    assert_eq!(failed[0]["package"], "node@runtime:22.0.0");
    let error = failed[0]["error"].as_str().unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    assert!(
        error.starts_with(&format!("cannot reach {origin}: ")),
        "{error}"
    );
    assert!(
        error.contains(&format!("downloaded from {origin}, not from the registry")),
        "{error}"
    );
    assert!(!error.contains("--registry"), "{error}");
}
