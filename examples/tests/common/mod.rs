//! What the end-to-end tests of `lockfetch fetch` share: a generated universe served by the mock
//! registry on loopback, scratch directories, and running the binary with a deadline.

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lockfetch::generate::{GenConfig, Universe};
use lockfetch::integrity::Integrity;
use lockfetch::registry::{MockRegistry, Shaping};
use serde_json::Value;

/// Every run of the binary must end within this.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A generated universe served by a mock registry, and a scratch home, work dir and cache.
pub struct World {
    pub universe: Universe,
    pub registry: MockRegistry,
    pub dir: tempfile::TempDir,
}

/// What one run of the binary produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "stdout must be one JSON object: {self:?}");
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("bad JSON ({e}): {self:?}"))
    }
}

impl World {
    pub fn new(packages: usize) -> World {
        let config = GenConfig {
            packages,
            total_bytes: Some(packages as u64 * 8_000),
            ..GenConfig::default()
        };
        let universe = Universe::generate(&config);
        let registry = MockRegistry::for_universe(&universe, Shaping::none()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "work", "bin"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let world = World {
            universe,
            registry,
            dir,
        };
        world.write_lockfile(&world.universe.lockfile());
        world
    }

    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn lockfile(&self) -> PathBuf {
        self.work().join("pnpm-lock.yaml")
    }

    pub fn write_lockfile(&self, text: &str) {
        std::fs::write(self.lockfile(), text).unwrap();
    }

    /// The tarball path of the `i`-th package.
    pub fn path(&self, i: usize) -> String {
        self.universe.packages[i].tarball_path()
    }

    pub fn key(&self, i: usize) -> String {
        self.universe.packages[i].key()
    }

    /// `lockfetch fetch --json` with the registry flag and fast retries, plus `extra` arguments.
    pub fn fetch(&self, extra: &[&str]) -> Run {
        let args = self.fetch_args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args, &[])
    }

    /// The arguments [`World::fetch`] runs the binary with.
    pub fn fetch_args(&self, extra: &[&str]) -> Vec<String> {
        let registry = self.registry.url();
        let lockfile = self.lockfile();
        let cache = self.cache();
        let mut args = vec![
            "fetch",
            "--lockfile",
            lockfile.to_str().unwrap(),
            "--cache-dir",
            cache.to_str().unwrap(),
            "--json",
            "--retry-delay-ms",
            "10",
        ];
        // Defaults that a test may override (clap refuses a flag given twice).
        for (flag, value) in [("--read-timeout-ms", "5000"), ("--concurrency", "8")] {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        let with_registry = ["--registry", registry.as_str()];
        if !extra.contains(&"--no-registry-flag") {
            args.extend(with_registry);
        }
        // Every package, the generated per-platform ones included, unless the test says.
        if !extra.contains(&"--this-platform") {
            args.push("--all-platforms");
        }
        args.extend(
            extra
                .iter()
                .filter(|a| !matches!(**a, "--no-registry-flag" | "--this-platform")),
        );
        args.into_iter().map(String::from).collect()
    }

    /// Runs the binary in the work dir with a scratch HOME and no registry in the environment.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_with_deadline(self.command(args, env))
    }

    /// The command [`World::run`] runs: the binary in the work dir, nothing from the real
    /// environment or machine (no `npm_config_*`, no global npmrc) but `PATH`, plus `env`.
    pub fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lockfetch"));
        // Nothing from the real environment or machine: no npm_config_*, no global npmrc, and
        // a PATH of the world's own `bin/` (no npm, unless a test puts one there).
        cmd.args(args)
            .current_dir(self.work())
            .env_clear()
            .env("PATH", self.dir.path().join("bin"))
            .env("HOME", self.dir.path().join("home"))
            .env(
                "npm_config_globalconfig",
                self.dir.path().join("global-npmrc"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Puts an `npm` on the world's PATH that answers `npm config get registry` with `registry`
    /// (and fails on anything else), as npm prints its default when nothing is configured.
    #[allow(dead_code)]
    pub fn fake_npm(&self, registry: &str) {
        let npm = self.dir.path().join("bin/npm");
        let script = format!(
            "#!/bin/sh\n[ \"$*\" = \"config get registry\" ] || exit 3\necho '{registry}'\n"
        );
        std::fs::write(&npm, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&npm, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A world whose registry sends `bytes_per_sec` in all, so a run takes a while.
    pub fn slow(packages: usize, bytes_per_sec: u64) -> World {
        let world = World::new(packages);
        world.registry.set_shaping(Shaping {
            bandwidth: Some(bytes_per_sec),
            chunk: 1024,
            ..Shaping::none()
        });
        world
    }

    /// Complete entries in the cache now (without checking them).
    pub fn entries(&self) -> usize {
        let mut n = 0;
        if let Ok(entries) = std::fs::read_dir(self.cache().join("sha512")) {
            n += entries.count();
        }
        n
    }

    /// Checks the cache: every entry is named by the hash of its content, nothing is left in
    /// `tmp/`; returns the integrities of the entries.
    pub fn check_cache(&self) -> Vec<Integrity> {
        let root = self.cache();
        if root.exists() {
            let tmp: Vec<_> = std::fs::read_dir(root.join("tmp")).unwrap().collect();
            assert!(tmp.is_empty(), "temp files left visible: {tmp:?}");
        }
        self.check_entries()
    }

    /// Checks every cache entry (named by the hash of its content), ignoring `tmp/`;
    /// returns their integrities.
    pub fn check_entries(&self) -> Vec<Integrity> {
        let root = self.cache();
        let mut found = Vec::new();
        if !root.exists() {
            return found;
        }
        use lockfetch::integrity::Algorithm;
        for (algo, algorithm) in [
            ("sha512", Algorithm::Sha512),
            ("sha384", Algorithm::Sha384),
            ("sha256", Algorithm::Sha256),
            ("sha1", Algorithm::Sha1),
        ] {
            let Ok(entries) = std::fs::read_dir(root.join(algo)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                let actual = Integrity::compute(algorithm, &bytes);
                assert_eq!(
                    actual.hex(),
                    path.file_name().unwrap().to_str().unwrap(),
                    "cache entry {} is corrupt",
                    path.display()
                );
                found.push(actual);
            }
        }
        found
    }

    /// The cache path of the `i`-th package.
    pub fn cache_path(&self, i: usize) -> PathBuf {
        let p = &self.universe.packages[i];
        let integrity = Integrity::parse(&p.integrity).unwrap();
        let hex = integrity.hex();
        self.cache().join("sha512").join(hex)
    }

    /// Whether the `i`-th package is in the cache.
    pub fn cached(&self, i: usize) -> bool {
        self.cache_path(i).is_file()
    }
}

pub fn run_with_deadline(mut cmd: Command) -> Run {
    wait_with_deadline(cmd.spawn().expect("spawn lockfetch"))
}

/// Waits for a spawned child (stdout and stderr piped) and collects its output; kills it and fails
/// after [`DEADLINE`].
pub fn wait_with_deadline(mut child: Child) -> Run {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lockfetch did not finish within {DEADLINE:?}; stderr: {}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
