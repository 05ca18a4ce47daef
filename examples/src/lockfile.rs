//! Reading a pnpm v9 lockfile (`lockfileVersion: '9.0'`, as pnpm 9, 10 and 11 write it): the
//! packages to fetch and the importers' direct dependencies.
//!
//! Only what fetching needs is read: `packages.<name@version>` with its `resolution` and its
//! `os` / `cpu` / `libc` lists, and `importers.<path>` with its `dependencies`, `devDependencies`
//! and `optionalDependencies` (each with a `version`, which may carry a peer suffix such as
//! `1.0.0(react@18.2.0)`, be an alias `other@1.0.0`, or a `link:`). Everything else (`settings`,
//! `snapshots`, engines, peers…) is ignored.
//!
//! Resolutions, as [`Source`]s:
//! - `{integrity}`: from the registry; `{tarball, integrity?}`: that URL (git-hosted tarballs
//!   included, often without integrity);
//! - `{type: variations, variants: [{targets, resolution: {url, integrity}}]}`: a runtime (Node,
//!   Bun, Deno) with one archive per platform;
//! - `{type: directory}`, `{type: git}`, `file:` tarballs and anything else: nothing to download
//!   ([`Source::Skipped`]).
//!
//! pnpm 11 may write two YAML documents into one file: first its environment (config dependencies
//! and the package manager, under `importers['.'].configDependencies`), then the project's. The
//! project's document is the one read.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::platform::{Requirements, Target};

mod raw;

use raw::{Head, Raw, RawResolution, documents};

use crate::integrity::{Integrity, IntegrityError};

/// A parsed lockfile.
#[derive(Debug, Clone)]
pub struct Lockfile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Every package of `packages:`, in file order, one per `name@version`.
    pub packages: Vec<Package>,
    /// The importers (workspace projects), in file order.
    pub importers: Vec<Importer>,
    /// `snapshots:`: each package in its peer context (`b@2.0.0(a@1.0.0)`) and the snapshot keys
    /// it depends on (optional ones included).
    pub snapshots: HashMap<String, Vec<String>>,
}

/// One entry of `packages:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The key without peer suffix: `name@version` (`@scope/name@1.0.0`).
    pub key: String,
    /// Package name, with scope.
    pub name: String,
    /// Version (for tarball dependencies, the URL or spec pnpm put in the key).
    pub version: String,
    /// `resolution.integrity`; `None` when missing integrity was allowed, for tarball URLs
    /// without one, and for variations (each variant has its own).
    pub integrity: Option<Integrity>,
    /// Where the tarball comes from.
    pub source: Source,
    /// The platforms it is for (`os`, `cpu`, `libc`).
    pub platform: Requirements,
    /// 1-based line of the entry in the lockfile, when found.
    pub line: Option<usize>,
}

/// Where a package's tarball is downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The configured registry: `{registry}/{name}/-/{unscoped}-{version}.tgz`.
    Registry,
    /// `resolution.tarball`: this exact URL (a git host's tarball included).
    Tarball(String),
    /// A runtime with one archive per platform; one of them is fetched.
    Variations(Vec<Variant>),
    /// Nothing to download: a local directory, a git repository, a local tarball…
    Skipped(Skip),
}

/// One archive of a `variations` resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// The platforms it runs on.
    pub targets: Vec<Target>,
    /// Where it is downloaded from.
    pub url: String,
    /// Its integrity (pnpm writes `sha256-…` for runtimes).
    pub integrity: Option<Integrity>,
}

/// Why a package has nothing to download.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// `{type: directory}`: a `file:` or `link:` directory of the workspace.
    Directory,
    /// `{type: git}`: cloned by the package manager, not downloaded as a tarball.
    Git,
    /// `{tarball: file:…}`: a tarball on this disk.
    LocalTarball,
    /// Another resolution type, named.
    Other(String),
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skip::Directory => f.write_str("local directory"),
            Skip::Git => f.write_str("git repository"),
            Skip::LocalTarball => f.write_str("local tarball"),
            Skip::Other(kind) => write!(f, "`{kind}` resolution"),
        }
    }
}

/// One project of the workspace (`importers.<path>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Importer {
    /// The importer path (`.` for the root project).
    pub path: String,
    /// Direct dependencies of all kinds, in file order.
    pub dependencies: Vec<DirectDependency>,
}

/// One direct dependency of an importer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectDependency {
    /// The name it is installed under.
    pub name: String,
    /// Which list it comes from.
    pub kind: DependencyKind,
    /// The package key (`name@version`) it resolves to; `None` for `link:` and `file:` deps.
    pub package: Option<String>,
    /// Its snapshot key (with the peer suffix); `None` for `link:` deps.
    pub snapshot: Option<String>,
}

/// Which dependency list of an importer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    /// `dependencies`.
    Prod,
    /// `devDependencies`.
    Dev,
    /// `optionalDependencies`.
    Optional,
}

/// Options of [`Lockfile::parse`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Accept registry packages without `resolution.integrity` (they are then downloaded and
    /// stored under the hash of what arrived).
    pub allow_missing_integrity: bool,
}

/// Why a lockfile could not be used. The message names the file, the line or key, and the cause.
#[derive(Debug)]
pub struct LockfileError {
    path: PathBuf,
    line: Option<usize>,
    kind: LockfileErrorKind,
}

/// The cause of a [`LockfileError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LockfileErrorKind {
    /// The file could not be read.
    Read(std::io::Error),
    /// Not valid YAML, or the wrong shape (e.g. a list where a map belongs).
    Yaml(String),
    /// `lockfileVersion` is missing.
    MissingVersion,
    /// `lockfileVersion` is not 9.x.
    UnsupportedVersion(String),
    /// A package key is not `name@version`.
    BadKey(String),
    /// A package has no `resolution`.
    MissingResolution(String),
    /// A registry package has no `resolution.integrity` (and that was not allowed).
    MissingIntegrity(String),
    /// `resolution.integrity` cannot be used.
    BadIntegrity(String, IntegrityError),
}

impl LockfileError {
    /// The lockfile path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The cause.
    pub fn kind(&self) -> &LockfileErrorKind {
        &self.kind
    }
}

impl fmt::Display for LockfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        match &self.kind {
            LockfileErrorKind::Read(e) => write!(f, "cannot read lockfile: {e}"),
            LockfileErrorKind::Yaml(e) => write!(f, "malformed lockfile: {e}"),
            LockfileErrorKind::MissingVersion => {
                f.write_str("no `lockfileVersion` (is this a pnpm lockfile?)")
            }
            LockfileErrorKind::UnsupportedVersion(v) => write!(
                f,
                "unsupported lockfileVersion '{v}': only pnpm v9 lockfiles ('9.0') are supported"
            ),
            LockfileErrorKind::BadKey(k) => {
                write!(f, "package key `{k}` is not of the form name@version")
            }
            LockfileErrorKind::MissingResolution(k) => {
                write!(f, "package `{k}` has no `resolution`")
            }
            LockfileErrorKind::MissingIntegrity(k) => write!(
                f,
                "package `{k}` has no `resolution.integrity` (pass --allow-missing-integrity to fetch it unverified)"
            ),
            LockfileErrorKind::BadIntegrity(k, e) => write!(f, "package `{k}`: {e}"),
        }
    }
}

impl std::error::Error for LockfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LockfileErrorKind::Read(e) => Some(e),
            LockfileErrorKind::BadIntegrity(_, e) => Some(e),
            _ => None,
        }
    }
}

impl Lockfile {
    /// Reads and parses the lockfile at `path`.
    pub fn read(path: impl AsRef<Path>, options: ParseOptions) -> Result<Lockfile, LockfileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| LockfileError {
            path: path.to_path_buf(),
            line: None,
            kind: LockfileErrorKind::Read(e),
        })?;
        Lockfile::parse(&text, path, options)
    }

    /// Parses lockfile text; `path` is only used in messages.
    pub fn parse(
        text: &str,
        path: impl AsRef<Path>,
        options: ParseOptions,
    ) -> Result<Lockfile, LockfileError> {
        let path = path.as_ref().to_path_buf();
        let err = |line, kind| LockfileError {
            path: path.clone(),
            line,
            kind,
        };
        // Pick the project's document (pnpm 11 writes its environment's first).
        let mut chosen = None;
        let docs = documents(text);
        for (offset, doc) in &docs {
            let shift = |e: LockfileError| LockfileError {
                line: e.line.map(|l| l + offset),
                ..e
            };
            let parsed = parse_document(doc, &path).map_err(shift)?;
            if parsed
                .1
                .importers
                .0
                .iter()
                .any(|(p, i)| p == "." && i.is_environment())
                && docs.len() > 1
            {
                continue;
            }
            chosen = Some((*offset, *doc, parsed));
            break;
        }
        let Some((offset, doc, (_, raw))) = chosen else {
            return match docs.is_empty() {
                true => Err(err(None, LockfileErrorKind::MissingVersion)),
                // Only pnpm's environment: the project has no dependencies yet.
                false => Ok(Lockfile {
                    path,
                    packages: Vec::new(),
                    importers: Vec::new(),
                    snapshots: HashMap::new(),
                }),
            };
        };
        let text = doc;
        let package_lines = key_lines(text, "packages");
        let find = |key: &str| {
            package_lines
                .get(key)
                .copied()
                .or_else(|| find_line(text, Some("packages"), key))
                .map(|l| l + offset)
        };
        let mut keys = HashSet::new();

        let mut packages: Vec<Package> = Vec::new();
        for (raw_key, pkg) in raw.packages.0 {
            let line = find(&raw_key);
            let key = strip_peers(&raw_key).to_string();
            let Some((name, version)) = split_key(&key) else {
                return Err(err(line, LockfileErrorKind::BadKey(raw_key)));
            };
            let (name, version) = (name.to_string(), version.to_string());
            if !keys.insert(key.clone()) {
                continue;
            }
            let Some(res) = pkg.resolution else {
                return Err(err(line, LockfileErrorKind::MissingResolution(key)));
            };
            let parse_sri = |sri: &str| {
                Integrity::parse(sri)
                    .map_err(|e| err(line, LockfileErrorKind::BadIntegrity(key.clone(), e)))
            };
            let source = source_of(&res, &parse_sri)?;
            let integrity = match (&source, &res.integrity) {
                (Source::Variations(_) | Source::Skipped(_), _) => None,
                (_, Some(sri)) => Some(parse_sri(sri)?),
                (Source::Registry, None) if !options.allow_missing_integrity => {
                    return Err(err(line, LockfileErrorKind::MissingIntegrity(key)));
                }
                (_, None) => None,
            };
            packages.push(Package {
                key,
                name,
                version,
                integrity,
                source,
                platform: Requirements {
                    os: pkg.os.0,
                    cpu: pkg.cpu.0,
                    libc: pkg.libc.0,
                },
                line,
            });
        }

        let importers = raw
            .importers
            .0
            .into_iter()
            .map(|(path, imp)| {
                let lists = [
                    (imp.dependencies, DependencyKind::Prod),
                    (imp.dev_dependencies, DependencyKind::Dev),
                    (imp.optional_dependencies, DependencyKind::Optional),
                ];
                let dependencies = lists
                    .into_iter()
                    .flat_map(|(list, kind)| {
                        list.0.into_iter().map(move |(name, dep)| {
                            let package = package_key(&name, &dep.version);
                            let snapshot = snapshot_key(&name, &dep.version);
                            DirectDependency {
                                name,
                                kind,
                                package,
                                snapshot,
                            }
                        })
                    })
                    .collect();
                Importer { path, dependencies }
            })
            .collect();

        let snapshots = raw
            .snapshots
            .0
            .into_iter()
            .map(|(key, snap)| {
                let deps = snap
                    .dependencies
                    .0
                    .into_iter()
                    .chain(snap.optional_dependencies.0)
                    .filter_map(|(name, version)| snapshot_key(&name, &scalar_text(&version)))
                    .collect();
                (key, deps)
            })
            .collect();

        Ok(Lockfile {
            path,
            packages,
            importers,
            snapshots,
        })
    }

    /// The package with `key`, if any.
    pub fn package(&self, key: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.key == key)
    }

    /// The package keys (without peer suffix) the importers reach through `snapshots`, not
    /// entering packages for which `excluded` says true (e.g. those of other platforms): what an
    /// install needs. A reached snapshot missing from `snapshots` counts with no dependencies.
    pub fn reachable(&self, excluded: &dyn Fn(&str) -> bool) -> HashSet<String> {
        let mut seen_snapshots: HashSet<&str> = HashSet::new();
        let mut packages = HashSet::new();
        let mut todo: Vec<&str> = self
            .importers
            .iter()
            .flat_map(|i| &i.dependencies)
            .filter_map(|d| d.snapshot.as_deref())
            .collect();
        while let Some(snapshot) = todo.pop() {
            if !seen_snapshots.insert(snapshot) {
                continue;
            }
            let package = strip_peers(snapshot);
            if excluded(package) {
                continue;
            }
            packages.insert(package.to_string());
            if let Some(deps) = self.snapshots.get(snapshot) {
                todo.extend(deps.iter().map(String::as_str));
            }
        }
        packages
    }

    /// The package keys the importers depend on directly, deduplicated, in file order; only keys
    /// present in `packages`.
    pub fn direct_keys(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for dep in self.importers.iter().flat_map(|i| &i.dependencies) {
            if let Some(key) = dep.package.as_deref()
                && !out.contains(&key)
                && self.packages.iter().any(|p| p.key == key)
            {
                out.push(key);
            }
        }
        out
    }
}

/// Parses one document: its version (checked first, so that an old lockfile gets "unsupported
/// version", not a shape error) and its content.
fn parse_document(text: &str, path: &Path) -> Result<(String, Raw), LockfileError> {
    let err = |line, kind| LockfileError {
        path: path.to_path_buf(),
        line,
        kind,
    };
    let yaml_err = |e: yaml_serde::Error| {
        let line = e.location().map(|l| l.line());
        err(line, LockfileErrorKind::Yaml(e.to_string()))
    };
    let head: Head = yaml_serde::from_str(text).map_err(yaml_err)?;
    let version = match head.lockfile_version {
        None => return Err(err(None, LockfileErrorKind::MissingVersion)),
        Some(v) => scalar_text(&v),
    };
    if version.split('.').next() != Some("9") {
        let line = find_line(text, None, "lockfileVersion");
        return Err(err(line, LockfileErrorKind::UnsupportedVersion(version)));
    }
    let raw: Raw = yaml_serde::from_str(text).map_err(yaml_err)?;
    Ok((version, raw))
}

/// Where a resolution's tarball comes from.
fn source_of(
    res: &RawResolution,
    parse_sri: &dyn Fn(&str) -> Result<Integrity, LockfileError>,
) -> Result<Source, LockfileError> {
    let remote = |url: &str| {
        if url.starts_with("file:") {
            Source::Skipped(Skip::LocalTarball)
        } else {
            Source::Tarball(url.to_string())
        }
    };
    Ok(match (res.kind.as_deref(), &res.tarball, &res.url) {
        (None | Some("tarball"), Some(url), _) => remote(url),
        (None, None, _) => Source::Registry,
        (Some("binary"), _, Some(url)) => remote(url),
        (Some("directory"), ..) => Source::Skipped(Skip::Directory),
        (Some("git"), ..) => Source::Skipped(Skip::Git),
        (Some("variations"), ..) => {
            let mut variants = Vec::new();
            for v in &res.variants {
                let Some(url) = v.resolution.url.as_ref().or(v.resolution.tarball.as_ref()) else {
                    continue;
                };
                let integrity = v
                    .resolution
                    .integrity
                    .as_deref()
                    .map(parse_sri)
                    .transpose()?;
                let targets = v
                    .targets
                    .iter()
                    .map(|t| Target {
                        os: t.os.clone(),
                        cpu: t.cpu.clone(),
                        libc: t.libc.clone(),
                    })
                    .collect();
                variants.push(Variant {
                    targets,
                    url: url.clone(),
                    integrity,
                });
            }
            Source::Variations(variants)
        }
        (Some(other), ..) => Source::Skipped(Skip::Other(other.to_string())),
    })
}

/// Splits `name@version` (the name may start with `@scope/`).
pub fn split_key(key: &str) -> Option<(&str, &str)> {
    let at = key.get(1..)?.find('@')? + 1;
    let (name, version) = (&key[..at], &key[at + 1..]);
    (!name.is_empty() && !version.is_empty() && name != "@").then_some((name, version))
}

/// Removes a peer-dependency suffix: `foo@1.0.0(react@18.0.0)(b@2)` → `foo@1.0.0`.
pub fn strip_peers(key: &str) -> &str {
    // The name part may not contain `(`; look for it after the version separator.
    match split_key(key) {
        Some((name, version)) => match version.find('(') {
            Some(i) => &key[..name.len() + 1 + i],
            None => key,
        },
        None => key,
    }
}

/// The package key a direct dependency's `version` points to: `1.0.0(peer@1)` under name `foo` is
/// `foo@1.0.0`; an alias `bar@1.0.0` (or `@s/bar@1.0.0`) is itself; `link:`/`file:` are `None`.
fn package_key(name: &str, version: &str) -> Option<String> {
    if version.starts_with("link:") || version.starts_with("file:") {
        return None;
    }
    let version = version.split('(').next().unwrap_or(version);
    if split_key(version).is_some() && !version.contains("://") {
        Some(version.to_string())
    } else {
        Some(format!("{name}@{version}"))
    }
}

/// The snapshot key a dependency `version` points to: `1.0.0(peer@1)` under name `foo` is
/// `foo@1.0.0(peer@1)`; an alias `bar@1.0.0(peer@1)` is itself; `file:x` is `foo@file:x`;
/// `link:` is `None`.
fn snapshot_key(name: &str, version: &str) -> Option<String> {
    if version.starts_with("link:") {
        return None;
    }
    let bare = version.split('(').next().unwrap_or(version);
    if split_key(bare).is_some() && !bare.contains("://") && !bare.starts_with("file:") {
        Some(version.to_string())
    } else {
        Some(format!("{name}@{version}"))
    }
}

/// The text of a scalar YAML value (`'9.0'`, `9.0` and `9` all give their text).
fn scalar_text(v: &yaml_serde::Value) -> String {
    match v {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Number(n) => n.to_string(),
        other => yaml_serde::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// The 1-based line of every key of top-level `section` (`  key:` or `  'key':`), read in one
/// pass.
fn key_lines<'t>(text: &'t str, section: &str) -> HashMap<&'t str, usize> {
    let mut out = HashMap::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with([' ', '\t']) && !line.trim().is_empty() {
            inside = line.trim_end() == format!("{section}:");
            continue;
        }
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        if !inside || rest.starts_with([' ', '\t']) {
            continue;
        }
        let rest = rest.trim_end();
        let key = match rest.strip_suffix(':') {
            Some(k) => k,
            None => match rest.split_once(": ") {
                Some((k, _)) => k,
                None => continue,
            },
        };
        let key = key.trim_matches(['\'', '"']);
        out.entry(key).or_insert(i + 1);
    }
    out
}

/// The 1-based line of `key:` (quoted or not) — at top level, or indented under `section:`.
fn find_line(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut in_section = section.is_none();
    let candidates = [
        format!("{key}:"),
        format!("'{key}':"),
        format!("\"{key}\":"),
    ];
    for (i, line) in text.lines().enumerate() {
        let indented = line.starts_with([' ', '\t']);
        if !indented
            && !line.trim().is_empty()
            && let Some(section) = section
        {
            in_section = line.trim_end() == format!("{section}:");
            continue;
        }
        if in_section
            && candidates
                .iter()
                .any(|c| line.trim_start().starts_with(c.as_str()))
        {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha512-m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==";

    fn sample() -> String {
        format!(
            "lockfileVersion: '9.0'

settings:
  autoInstallPeers: true

importers:

  .:
    dependencies:
      '@scope/a':
        specifier: ^1.0.0
        version: 1.0.0
      b:
        specifier: ^2.0.0
        version: 2.0.0(@scope/a@1.0.0)
    devDependencies:
      c:
        specifier: npm:real-c@^3
        version: real-c@3.0.0
      local:
        specifier: link:../local
        version: link:../local

  packages/x:
    optionalDependencies:
      b:
        specifier: ^2.0.0
        version: 2.0.0(@scope/a@1.0.0)

packages:

  '@scope/a@1.0.0':
    resolution: {{integrity: {SHA}}}
    engines: {{node: '>=18'}}

  b@2.0.0:
    resolution: {{integrity: {SHA}}}
    peerDependencies:
      '@scope/a': '*'

  real-c@3.0.0:
    resolution: {{tarball: 'http://127.0.0.1:9/real-c.tgz', integrity: 'sha1-qvTGHdzF6KLavt4PO0gs2a6pQ00= {SHA}'}}

  gitdep@1.0.0:
    resolution: {{type: git, repo: 'x', commit: 'y'}}

  notused@0.1.0:
    resolution: {{integrity: {SHA}}}

snapshots:

  '@scope/a@1.0.0': {{}}

  b@2.0.0(@scope/a@1.0.0):
    dependencies:
      '@scope/a': 1.0.0
"
        )
    }

    fn parse(text: &str) -> Result<Lockfile, LockfileError> {
        Lockfile::parse(text, "pnpm-lock.yaml", ParseOptions::default())
    }

    #[test]
    fn reads_packages_and_importers() {
        let lock = parse(&sample()).unwrap();
        let keys: Vec<_> = lock.packages.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "@scope/a@1.0.0",
                "b@2.0.0",
                "real-c@3.0.0",
                "gitdep@1.0.0",
                "notused@0.1.0"
            ]
        );
        let a = &lock.packages[0];
        assert_eq!((a.name.as_str(), a.version.as_str()), ("@scope/a", "1.0.0"));
        assert_eq!(a.source, Source::Registry);
        assert_eq!(a.integrity.as_ref().unwrap().to_string(), SHA);
        assert_eq!(a.line, Some(32));
        let c = &lock.packages[2];
        assert_eq!(
            c.source,
            Source::Tarball("http://127.0.0.1:9/real-c.tgz".into())
        );
        assert_eq!(c.integrity.as_ref().unwrap().to_string(), SHA);
        assert_eq!(lock.packages[3].source, Source::Skipped(Skip::Git));

        assert_eq!(lock.importers.len(), 2);
        assert_eq!(lock.importers[0].path, ".");
        let deps = &lock.importers[0].dependencies;
        assert_eq!(deps.len(), 4);
        assert_eq!(deps[1].package.as_deref(), Some("b@2.0.0"));
        assert_eq!(deps[2].kind, DependencyKind::Dev);
        assert_eq!(deps[2].package.as_deref(), Some("real-c@3.0.0"));
        assert_eq!(deps[3].package, None);
        assert_eq!(
            lock.importers[1].dependencies[0].kind,
            DependencyKind::Optional
        );
        assert_eq!(
            lock.direct_keys(),
            ["@scope/a@1.0.0", "b@2.0.0", "real-c@3.0.0"]
        );
    }

    #[test]
    fn keys_and_peer_suffixes() {
        assert_eq!(split_key("@s/n@1.0.0"), Some(("@s/n", "1.0.0")));
        assert_eq!(split_key("n@1.0.0"), Some(("n", "1.0.0")));
        assert_eq!(split_key("@s/n"), None);
        assert_eq!(split_key("n"), None);
        assert_eq!(strip_peers("foo@1.0.0(react@18.0.0)(b@2)"), "foo@1.0.0");
        assert_eq!(strip_peers("@s/foo@1.0.0(@s/r@1)"), "@s/foo@1.0.0");
        assert_eq!(strip_peers("foo@1.0.0"), "foo@1.0.0");
        assert_eq!(package_key("x", "1.0.0(y@1)"), Some("x@1.0.0".into()));
        assert_eq!(package_key("x", "@s/y@1.0.0"), Some("@s/y@1.0.0".into()));
        assert_eq!(package_key("x", "link:../x"), None);
    }

    #[test]
    fn empty_sections_and_numeric_version() {
        let lock = parse("lockfileVersion: 9.0\nimporters:\n  .: {}\npackages:\n").unwrap();
        assert!(lock.packages.is_empty());
        assert_eq!(lock.importers[0].dependencies, []);
    }

    #[test]
    fn errors_name_file_line_and_cause() {
        let err = parse("lockfileVersion: '9.0'\npackages:\n  a@1: [unclosed\n").unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::Yaml(_)));
        assert!(err.line().is_some(), "{err}");
        assert!(err.to_string().starts_with("pnpm-lock.yaml:"), "{err}");

        let err = parse("lockfileVersion: '6.0'\npackages:\n  /a@1.0.0: {}\n").unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::UnsupportedVersion(v) if v == "6.0"));
        assert_eq!(
            err.to_string(),
            "pnpm-lock.yaml:1: unsupported lockfileVersion '6.0': only pnpm v9 lockfiles ('9.0') are supported"
        );

        let err = parse("importers: {}\n").unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::MissingVersion));

        let text = "lockfileVersion: '9.0'\npackages:\n\n  a@1.0.0:\n    resolution: {}\n";
        let err = parse(text).unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::MissingIntegrity(k) if k == "a@1.0.0"));
        assert_eq!(err.line(), Some(4));
        assert!(err.to_string().contains("--allow-missing-integrity"));
        let allowed = ParseOptions {
            allow_missing_integrity: true,
        };
        let lock = Lockfile::parse(text, "x", allowed).unwrap();
        assert_eq!(lock.packages[0].integrity, None);

        let text =
            "lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    resolution: {integrity: md5-x}\n";
        let err = parse(text).unwrap_err();
        assert!(
            matches!(err.kind(), LockfileErrorKind::BadIntegrity(..)),
            "{err}"
        );

        let err =
            parse("lockfileVersion: '9.0'\npackages:\n  nover: {resolution: {}}\n").unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::BadKey(_)), "{err}");

        let err = parse("lockfileVersion: '9.0'\npackages: [1, 2]\n").unwrap_err();
        assert!(matches!(err.kind(), LockfileErrorKind::Yaml(_)), "{err}");
    }
}
