//! Deterministic generation of a package universe: names, versions, sizes, a dependency graph,
//! tarball bytes, their SRI integrity and the matching pnpm v9 lockfile.
//!
//! Everything derives from one seed (`fastrand::Rng::with_seed`), so the demo, the tests and the
//! benchmarks see the same packages on every machine. The default of 1355 packages mirrors
//! pacquet's "alotta-modules" benchmark and totals about 90 MB:
//!
//! - sizes are log-normal (median ≈ 16 KiB) plus one multi-MB outlier per 200 packages, then scaled
//!   so the total is `packages × 66 420` bytes (90 MB for 1355);
//! - about 15 % of the packages are *speculative*: optional per-platform packages (`os`/`cpu` of
//!   another platform) that the resolver discovers and prefetches but the install never needs;
//! - the needed packages form a DAG rooted at the importer's direct dependencies (one primary parent
//!   per package plus random extra edges), speculative ones hang off needed parents as
//!   `optionalDependencies`;
//! - tarball bytes are a fast PRNG fill seeded by `name@version` (a gzip magic number, then noise:
//!   not a valid archive, cheap to make), generated and hashed once on all cores.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha512};

/// Bytes per package on average, so that 1355 packages total about 90 MB.
pub const BYTES_PER_PACKAGE: u64 = 66_420;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Number of packages in the lockfile, speculative ones included.
    pub packages: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Total tarball bytes; `None` means `packages × BYTES_PER_PACKAGE`.
    pub total_bytes: Option<u64>,
    /// Share of speculative (never needed) packages, in percent.
    pub speculative_percent: u32,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            packages: 1355,
            seed: 12241,
            total_bytes: None,
            speculative_percent: 15,
        }
    }
}

/// One generated package (one `name@version`).
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name, possibly scoped (`@scope/name`).
    pub name: String,
    /// Exact version (`major.minor.patch`).
    pub version: String,
    /// Whether the install needs it; `false` for speculative (optional, other-platform) packages.
    pub needed: bool,
    /// Indices of its dependencies in [`Universe::packages`].
    pub dependencies: Vec<usize>,
    /// Indices of its optional dependencies (the speculative packages) in [`Universe::packages`].
    pub optional_dependencies: Vec<usize>,
    /// `sha512-…` SRI integrity of [`Package::tarball`].
    pub integrity: String,
    /// The tarball bytes.
    pub tarball: Arc<[u8]>,
}

impl Package {
    /// Tarball size in bytes.
    pub fn size(&self) -> u64 {
        self.tarball.len() as u64
    }

    /// The lockfile key, `name@version`.
    pub fn key(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// npm-style tarball path, see [`tarball_path`].
    pub fn tarball_path(&self) -> String {
        tarball_path(&self.name, &self.version)
    }
}

/// A generated package universe: the packages, the importer's direct dependencies and the seed.
#[derive(Debug, Clone)]
pub struct Universe {
    /// All packages; indices are stable and used by the dependency lists.
    pub packages: Vec<Package>,
    /// Indices of the root importer's (`.`) direct dependencies.
    pub direct: Vec<usize>,
    /// The configuration it was generated from.
    pub config: GenConfig,
}

/// npm-style tarball path: `/{name}/-/{unscoped}-{version}.tgz` (`/@s/n/-/n-1.0.0.tgz` when scoped).
pub fn tarball_path(name: &str, version: &str) -> String {
    let unscoped = name.rsplit('/').next().unwrap_or(name);
    format!("/{name}/-/{unscoped}-{version}.tgz")
}

/// `sha512-<base64>` Subresource Integrity string of `bytes`.
pub fn sri_sha512(bytes: &[u8]) -> String {
    let digest = Sha512::digest(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The deterministic tarball bytes of `name@version` with `size` bytes.
pub fn tarball_bytes(name: &str, version: &str, size: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(fnv1a(name.as_bytes(), fnv1a(version.as_bytes(), 0)));
    let mut bytes = vec![0; size];
    rng.fill(&mut bytes);
    // A gzip member header, so a sniffing tool sees a `.tgz`; the rest is noise.
    let magic = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3];
    let n = magic.len().min(size);
    bytes[..n].copy_from_slice(&magic[..n]);
    bytes
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Universe {
    /// Generate the universe described by `config` (deterministic for a given config).
    pub fn generate(config: &GenConfig) -> Universe {
        let plan = Plan::new(config);
        let blobs = tarballs(&plan.ids, &plan.sizes);
        let packages = plan
            .ids
            .into_iter()
            .zip(blobs)
            .zip(plan.dependencies.into_iter().zip(plan.optional))
            .enumerate()
            .map(
                |(i, (((name, version), (tarball, integrity)), (deps, opts)))| Package {
                    name,
                    version,
                    needed: i < plan.needed,
                    dependencies: deps,
                    optional_dependencies: opts,
                    integrity,
                    tarball,
                },
            )
            .collect();
        Universe {
            packages,
            direct: (0..plan.direct).collect(),
            config: config.clone(),
        }
    }

    /// Total bytes of every tarball.
    pub fn total_bytes(&self) -> u64 {
        self.packages.iter().map(Package::size).sum()
    }

    /// Total bytes of the needed tarballs.
    pub fn needed_bytes(&self) -> u64 {
        self.packages
            .iter()
            .filter(|p| p.needed)
            .map(Package::size)
            .sum()
    }

    /// Number of needed packages.
    pub fn needed_count(&self) -> usize {
        self.packages.iter().filter(|p| p.needed).count()
    }

    /// Every `(tarball path, bytes)` pair, as the mock registry serves them.
    pub fn files(&self) -> impl Iterator<Item = (String, Arc<[u8]>)> + '_ {
        self.packages
            .iter()
            .map(|p| (p.tarball_path(), p.tarball.clone()))
    }

    /// The pnpm v9 lockfile (`pnpm-lock.yaml`) describing this universe.
    pub fn lockfile(&self) -> String {
        let mut out = String::new();
        out.push_str("lockfileVersion: '9.0'\n\n");
        out.push_str("settings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\n");
        out.push_str("importers:\n\n  .:\n");
        let direct: BTreeMap<&str, &Package> = self
            .direct
            .iter()
            .map(|&i| (self.packages[i].name.as_str(), &self.packages[i]))
            .collect();
        if !direct.is_empty() {
            out.push_str("    dependencies:\n");
            for (name, p) in direct {
                let _ = writeln!(
                    out,
                    "      {}:\n        specifier: ^{}\n        version: {}",
                    yaml_key(name),
                    p.version,
                    p.version
                );
            }
        }
        let sorted: BTreeMap<String, &Package> =
            self.packages.iter().map(|p| (p.key(), p)).collect();
        out.push_str("\npackages:\n");
        for (key, p) in &sorted {
            let _ = write!(
                out,
                "\n  {}:\n    resolution: {{integrity: {}}}\n",
                yaml_key(key),
                p.integrity
            );
            if !p.needed {
                out.push_str("    cpu: [arm64]\n    os: [sunos]\n");
            }
        }
        out.push_str("\nsnapshots:\n");
        for (key, p) in &sorted {
            let deps = self.dep_map(&p.dependencies);
            let opts = self.dep_map(&p.optional_dependencies);
            if deps.is_empty() && opts.is_empty() && p.needed {
                let _ = writeln!(out, "\n  {}: {{}}", yaml_key(key));
                continue;
            }
            let _ = writeln!(out, "\n  {}:", yaml_key(key));
            for (title, map) in [("dependencies", deps), ("optionalDependencies", opts)] {
                if map.is_empty() {
                    continue;
                }
                let _ = writeln!(out, "    {title}:");
                for (name, version) in map {
                    let _ = writeln!(out, "      {}: {}", yaml_key(name), version);
                }
            }
            if !p.needed {
                out.push_str("    optional: true\n");
            }
        }
        out
    }

    fn dep_map(&self, indices: &[usize]) -> BTreeMap<&str, &str> {
        indices
            .iter()
            .map(|&i| {
                let p = &self.packages[i];
                (p.name.as_str(), p.version.as_str())
            })
            .collect()
    }
}

/// Everything but the bytes: cheap to compute, and what [`Universe::generate`] materializes.
struct Plan {
    ids: Vec<(String, String)>,
    sizes: Vec<usize>,
    /// Packages `0..needed` are needed (in graph order), the rest speculative.
    needed: usize,
    /// Packages `0..direct` are the importer's direct dependencies.
    direct: usize,
    dependencies: Vec<Vec<usize>>,
    optional: Vec<Vec<usize>>,
}

impl Plan {
    fn new(config: &GenConfig) -> Plan {
        let n = config.packages;
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let ids = names_and_versions(&mut rng, n);
        let total = config.total_bytes.unwrap_or(n as u64 * BYTES_PER_PACKAGE);
        let sizes = sizes(&mut rng, n, total);
        let speculative = if n < 2 {
            0
        } else {
            (n * config.speculative_percent as usize / 100).min(n - 1)
        };
        let needed = n - speculative;
        // The names are random, so the order (needed first, in graph order) is invisible.
        let mut dependencies = vec![Vec::new(); n];
        let mut optional = vec![Vec::new(); n];
        let direct = (needed / 30).clamp(1, 60).min(needed);
        for child in direct..needed {
            let parent = rng.usize(0..child);
            dependencies[parent].push(child);
            for _ in 0..extra_edges(&mut rng) {
                let parent = rng.usize(0..child);
                if !dependencies[parent].contains(&child) {
                    dependencies[parent].push(child);
                }
            }
        }
        // Speculative packages come in platform groups (1..=12) under one needed parent.
        let mut next = needed;
        while next < n && needed > 0 {
            let group = rng.usize(1..=12).min(n - next);
            let parent = rng.usize(0..needed);
            optional[parent].extend(next..next + group);
            next += group;
        }
        Plan {
            ids,
            sizes,
            needed,
            direct,
            dependencies,
            optional,
        }
    }
}

impl GenConfig {
    /// The tarball sizes [`Universe::generate`] produces for this config, in package order,
    /// without making or hashing any bytes.
    pub fn sizes(&self) -> Vec<u64> {
        Plan::new(self)
            .sizes
            .into_iter()
            .map(|s| s as u64)
            .collect()
    }
}

/// Quote a YAML mapping key the way pnpm does (`'@scope/x@1.0.0'`).
fn yaml_key(key: &str) -> String {
    if key.starts_with('@') {
        format!("'{key}'")
    } else {
        key.to_owned()
    }
}

fn extra_edges(rng: &mut fastrand::Rng) -> usize {
    match rng.u32(0..10) {
        0..5 => 0,
        5..8 => 1,
        _ => 2,
    }
}

const SYLLABLES: &[&str] = &[
    "ra", "to", "ki", "mo", "lu", "zen", "ex", "pa", "dor", "vi", "na", "quo", "ber", "sil", "fin",
    "gro", "hal", "jet", "kor", "lim", "press", "web", "ack", "yar", "bab", "el", "pos", "css",
];
const SUFFIXES: &[&str] = &[
    "", "", "", "", "-js", "-utils", "-core", "-parser", "-plugin", "-types", "-cli", "-loader",
];

fn word(rng: &mut fastrand::Rng, syllables: usize) -> String {
    (0..syllables)
        .map(|_| SYLLABLES[rng.usize(..SYLLABLES.len())])
        .collect()
}

/// `n` distinct `(name, version)` pairs: ~12 % scoped, ~3 % second versions of an earlier name.
fn names_and_versions(rng: &mut fastrand::Rng, n: usize) -> Vec<(String, String)> {
    let scopes: Vec<String> = (0..24).map(|_| word(rng, 2)).collect();
    let mut names: Vec<String> = Vec::with_capacity(n);
    let mut taken = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let version = format!("{}.{}.{}", rng.u32(0..12), rng.u32(0..30), rng.u32(0..40));
        let name = if !names.is_empty() && rng.u32(0..100) < 3 {
            names[rng.usize(..names.len())].clone()
        } else {
            let syllables = rng.usize(2..=3);
            let base = word(rng, syllables) + SUFFIXES[rng.usize(..SUFFIXES.len())];
            if rng.u32(0..100) < 12 {
                format!("@{}/{}", scopes[rng.usize(..scopes.len())], base)
            } else {
                base
            }
        };
        if !taken.insert(format!("{name}@{version}")) {
            continue;
        }
        if !names.contains(&name) {
            names.push(name.clone());
        }
        out.push((name, version));
    }
    out
}

/// Log-normal sizes plus multi-MB outliers, scaled to `total` bytes.
fn sizes(rng: &mut fastrand::Rng, n: usize, total: u64) -> Vec<usize> {
    let mut sizes: Vec<f64> = (0..n)
        .map(|_| {
            let (u1, u2) = (rng.f64().max(1e-12), rng.f64());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            (16_384f64.ln() + 1.3 * z).exp().clamp(300.0, 1_500_000.0)
        })
        .collect();
    let outliers = n / 200;
    let mut is_outlier = vec![false; n];
    let mut outlier_bytes = 0.0;
    for _ in 0..outliers {
        let i = rng.usize(..n);
        if !is_outlier[i] {
            is_outlier[i] = true;
            sizes[i] = rng.u64(2_000_000..6_000_000) as f64;
            outlier_bytes += sizes[i];
        }
    }
    let rest: f64 = (0..n).filter(|&i| !is_outlier[i]).map(|i| sizes[i]).sum();
    let scale = if rest > 0.0 {
        ((total as f64 - outlier_bytes) / rest).max(0.1)
    } else {
        1.0
    };
    (0..n)
        .map(|i| {
            let s = if is_outlier[i] {
                sizes[i]
            } else {
                sizes[i] * scale
            };
            (s as usize).max(64)
        })
        .collect()
}

/// Generate and hash every tarball, on all cores.
fn tarballs(ids: &[(String, String)], sizes: &[usize]) -> Vec<(Arc<[u8]>, String)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let make = |i: usize| {
        let bytes = tarball_bytes(&ids[i].0, &ids[i].1, sizes[i]);
        let integrity = sri_sha512(&bytes);
        (Arc::<[u8]>::from(bytes), integrity)
    };
    let mut out: Vec<Option<(Arc<[u8]>, String)>> = vec![None; ids.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..ids.len())
                        .step_by(threads)
                        .map(|i| (i, make(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for (i, item) in handle.join().expect("tarball generator panicked") {
                out[i] = Some(item);
            }
        }
    });
    out.into_iter()
        .map(|o| o.expect("every tarball generated"))
        .collect()
}
