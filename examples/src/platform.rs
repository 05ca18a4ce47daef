//! Which platforms' packages to fetch: pnpm's `supportedArchitectures` (`os`, `cpu`, `libc`).
//!
//! A package may declare `os`, `cpu` and `libc` lists (`[linux]`, `[x64]`, `[glibc]`), each value
//! possibly negated (`!win32`). It is installable when every declared list accepts one of the
//! wanted values, with npm's and pnpm's rule: a list accepts a value it names, and a list made only
//! of negations accepts every value it does not name. `libc` is not checked for a platform without
//! one (anything but Linux), as pnpm does.
//!
//! By default only this machine is wanted, or what the project asks for with pnpm's
//! `supportedArchitectures` setting (in `pnpm-workspace.yaml`, else under `pnpm` in
//! `package.json`); `--os`, `--cpu` and `--libc` replace that (the value `current` stands for this
//! machine), and `--all-platforms` wants everything.

use std::fmt;

/// The platforms packages are fetched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platforms {
    /// Wanted operating systems in Node's names (`linux`, `darwin`, `win32`…); empty = any.
    pub os: Vec<String>,
    /// Wanted CPUs in Node's names (`x64`, `arm64`, `ia32`…); empty = any.
    pub cpu: Vec<String>,
    /// Wanted C libraries (`glibc`, `musl`); empty = any.
    pub libc: Vec<String>,
}

/// One machine: operating system, CPU and C library (`None` where the OS has no such notion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Node's `process.platform`.
    pub os: String,
    /// Node's `process.arch`.
    pub cpu: String,
    /// `glibc` or `musl` on Linux.
    pub libc: Option<String>,
}

/// One platform a runtime archive is built for (a `targets` entry of a `variations` resolution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Operating system, Node's name.
    pub os: String,
    /// CPU, Node's name.
    pub cpu: String,
    /// `musl` for musl builds; `None` for the default (glibc on Linux).
    pub libc: Option<String>,
}

/// What a package says it runs on (its `os`, `cpu`, `libc` lists; empty = anywhere).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    /// `os:`.
    pub os: Vec<String>,
    /// `cpu:`.
    pub cpu: Vec<String>,
    /// `libc:`.
    pub libc: Vec<String>,
}

impl Requirements {
    /// Whether nothing is required.
    pub fn is_empty(&self) -> bool {
        self.os.is_empty() && self.cpu.is_empty() && self.libc.is_empty()
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = [&self.os, &self.cpu, &self.libc]
            .into_iter()
            .filter(|l| !l.is_empty())
            .map(|l| l.join("|"))
            .collect();
        f.write_str(&parts.join("-"))
    }
}

impl Host {
    /// This machine, in Node's names.
    pub fn current() -> Host {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            other => other,
        };
        let cpu = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "x86" => "ia32",
            "aarch64" => "arm64",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            "riscv64" => "riscv64",
            "s390x" => "s390x",
            other => other,
        };
        let libc = (os == "linux").then(detect_libc);
        Host {
            os: os.to_string(),
            cpu: cpu.to_string(),
            libc,
        }
    }
}

/// The C library of this Linux system, found the way `detect-libc` (used by npm and pnpm) does
/// without running anything: the dynamic loader's `ldd` script names musl or glibc. Defaults to
/// `glibc`.
fn detect_libc() -> String {
    if cfg!(target_env = "musl") {
        return "musl".into();
    }
    match std::fs::read_to_string("/usr/bin/ldd") {
        Ok(text) if text.contains("musl") => "musl".into(),
        _ => "glibc".into(),
    }
}

impl Platforms {
    /// Every platform: nothing is filtered out.
    pub fn all() -> Platforms {
        Platforms {
            os: Vec::new(),
            cpu: Vec::new(),
            libc: Vec::new(),
        }
    }

    /// Only `host`.
    pub fn host(host: &Host) -> Platforms {
        Platforms {
            os: vec![host.os.clone()],
            cpu: vec![host.cpu.clone()],
            libc: host.libc.iter().cloned().collect(),
        }
    }

    /// From `--os`, `--cpu`, `--libc` values (each list empty = this machine's value; `current`
    /// stands for it too).
    pub fn from_flags(host: &Host, os: &[String], cpu: &[String], libc: &[String]) -> Platforms {
        let pick = |given: &[String], current: Option<&String>| -> Vec<String> {
            if given.is_empty() {
                return current.into_iter().cloned().collect();
            }
            let mut out = Vec::new();
            for v in given {
                let v = if v == "current" {
                    match current {
                        Some(c) => c.clone(),
                        None => continue,
                    }
                } else {
                    v.clone()
                };
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            out
        };
        Platforms {
            os: pick(os, Some(&host.os)),
            cpu: pick(cpu, Some(&host.cpu)),
            libc: pick(libc, host.libc.as_ref()),
        }
    }

    /// The project's `supportedArchitectures` (`pnpm-workspace.yaml`, else `package.json`'s
    /// `pnpm` section) in `dir`, if it sets any; a list it leaves out is this machine's value.
    pub fn from_project(host: &Host, dir: &std::path::Path) -> Result<Option<Platforms>, String> {
        #[derive(serde::Deserialize, Default)]
        struct Supported {
            #[serde(default)]
            os: Vec<String>,
            #[serde(default)]
            cpu: Vec<String>,
            #[serde(default)]
            libc: Vec<String>,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Settings {
            supported_architectures: Option<Supported>,
        }
        #[derive(serde::Deserialize)]
        struct Manifest {
            pnpm: Option<Settings>,
        }
        let read = |name: &str| match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", dir.join(name).display())),
        };
        let mut found = None;
        if let Some(text) = read("pnpm-workspace.yaml")? {
            let settings: Settings = yaml_serde::from_str(&text)
                .map_err(|e| format!("{}: {e}", dir.join("pnpm-workspace.yaml").display()))?;
            found = settings.supported_architectures;
        }
        if found.is_none()
            && let Some(text) = read("package.json")?
        {
            // A package.json that is not JSON is the package manager's business, not ours.
            found = serde_json::from_str::<Manifest>(&text)
                .ok()
                .and_then(|m| m.pnpm)
                .and_then(|s| s.supported_architectures);
        }
        Ok(found.map(|s| Platforms::from_flags(host, &s.os, &s.cpu, &s.libc)))
    }

    /// Whether a package with `req` is wanted on one of these platforms.
    pub fn accepts(&self, req: &Requirements) -> bool {
        accepts_any(&self.os, &req.os)
            && accepts_any(&self.cpu, &req.cpu)
            && (self.libc.is_empty() || accepts_any(&self.libc, &req.libc))
    }

    /// The one variant target to pick among `(os, cpu, libc)` triples, as pnpm selects a
    /// runtime's archive: the first wanted OS and CPU; glibc (or no libc) matches a target without
    /// `libc`, musl only a `musl` target. `None` if no target matches.
    pub fn pick_variant<'a, I>(&self, variants: I) -> Option<usize>
    where
        I: IntoIterator<Item = &'a [Target]>,
    {
        for (i, targets) in variants.into_iter().enumerate() {
            let hit = targets.iter().any(|t| {
                (self.os.is_empty() || self.os.contains(&t.os))
                    && (self.cpu.is_empty() || self.cpu.contains(&t.cpu))
                    && match t.libc.as_deref() {
                        None => self.libc.is_empty() || self.libc.iter().any(|l| l == "glibc"),
                        Some(l) => self.libc.is_empty() || self.libc.iter().any(|w| w == l),
                    }
            });
            if hit {
                return Some(i);
            }
        }
        None
    }
}

/// Whether `list` (a package's `os`/`cpu`/`libc`) accepts one of `wanted` (empty = any value).
fn accepts_any(wanted: &[String], list: &[String]) -> bool {
    if wanted.is_empty() || list.is_empty() {
        return true;
    }
    wanted.iter().any(|value| accepts(value, list))
}

/// npm's `checkList`: a named value matches; a negated one refuses; a list of negations only
/// accepts anything it does not name.
fn accepts(value: &str, list: &[String]) -> bool {
    if list.len() == 1 && list[0] == "any" {
        return true;
    }
    let mut matched = false;
    let mut negations = 0;
    for item in list {
        if let Some(denied) = item.strip_prefix('!') {
            if denied == value {
                return false;
            }
            negations += 1;
        } else {
            matched |= item == value;
        }
    }
    matched || negations == list.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn req(os: &[&str], cpu: &[&str], libc: &[&str]) -> Requirements {
        Requirements {
            os: s(os),
            cpu: s(cpu),
            libc: s(libc),
        }
    }

    fn linux_x64_glibc() -> Host {
        Host {
            os: "linux".into(),
            cpu: "x64".into(),
            libc: Some("glibc".into()),
        }
    }

    #[test]
    fn this_machine_only_by_default() {
        let p = Platforms::host(&linux_x64_glibc());
        assert!(p.accepts(&Requirements::default()));
        assert!(p.accepts(&req(&["linux"], &["x64"], &["glibc"])));
        assert!(!p.accepts(&req(&["linux"], &["x64"], &["musl"])));
        assert!(!p.accepts(&req(&["linux"], &["arm64"], &["glibc"])));
        assert!(!p.accepts(&req(&["darwin"], &["x64"], &[])));
        assert!(p.accepts(&req(&["linux", "darwin"], &[], &[])));
    }

    #[test]
    fn negations() {
        let p = Platforms::host(&linux_x64_glibc());
        assert!(p.accepts(&req(&["!win32"], &[], &[])));
        assert!(!p.accepts(&req(&["!linux"], &[], &[])));
        assert!(!p.accepts(&req(&["!win32", "!linux"], &[], &[])));
        // A named value next to negations: only named values match.
        assert!(!p.accepts(&req(&["darwin", "!win32"], &[], &[])));
        assert!(p.accepts(&req(&["any"], &["!arm"], &[])));
    }

    #[test]
    fn libc_is_ignored_without_one() {
        let mac = Host {
            os: "darwin".into(),
            cpu: "arm64".into(),
            libc: None,
        };
        let p = Platforms::host(&mac);
        assert!(p.accepts(&req(&["darwin"], &["arm64"], &["glibc"])));
    }

    #[test]
    fn flags_replace_this_machine() {
        let host = linux_x64_glibc();
        let p = Platforms::from_flags(&host, &s(&["current", "darwin"]), &s(&["arm64"]), &[]);
        assert_eq!(p.os, s(&["linux", "darwin"]));
        assert_eq!(p.cpu, s(&["arm64"]));
        assert_eq!(p.libc, s(&["glibc"]));
        assert!(p.accepts(&req(&["darwin"], &["arm64"], &[])));
        assert!(!p.accepts(&req(&["darwin"], &["x64"], &[])));
        assert!(Platforms::all().accepts(&req(&["aix"], &["ppc64"], &["musl"])));
    }

    #[test]
    fn project_settings() {
        let dir = tempfile::tempdir().unwrap();
        let host = linux_x64_glibc();
        assert_eq!(Platforms::from_project(&host, dir.path()).unwrap(), None);
        std::fs::write(
            dir.path().join("package.json"),
            r#"{"pnpm": {"supportedArchitectures": {"os": ["current", "darwin"]}}}"#,
        )
        .unwrap();
        let p = Platforms::from_project(&host, dir.path()).unwrap().unwrap();
        assert_eq!((p.os, p.cpu), (s(&["linux", "darwin"]), s(&["x64"])));
        // pnpm-workspace.yaml wins.
        std::fs::write(
            dir.path().join("pnpm-workspace.yaml"),
            "packages: ['.']\nsupportedArchitectures:\n  cpu: [arm64, x64]\n  libc: [musl]\n",
        )
        .unwrap();
        let p = Platforms::from_project(&host, dir.path()).unwrap().unwrap();
        assert_eq!(p.os, s(&["linux"]));
        assert_eq!(p.cpu, s(&["arm64", "x64"]));
        assert_eq!(p.libc, s(&["musl"]));
        std::fs::write(
            dir.path().join("pnpm-workspace.yaml"),
            "supportedArchitectures: [1\n",
        )
        .unwrap();
        let err = Platforms::from_project(&host, dir.path()).unwrap_err();
        assert!(err.contains("pnpm-workspace.yaml"), "{err}");
    }

    #[test]
    fn variants() {
        let t = |os: &str, cpu: &str, libc: Option<&str>| {
            vec![Target {
                os: os.into(),
                cpu: cpu.into(),
                libc: libc.map(String::from),
            }]
        };
        let targets = [
            t("darwin", "arm64", None),
            t("linux", "x64", Some("musl")),
            t("linux", "x64", None),
        ];
        let p = Platforms::host(&linux_x64_glibc());
        assert_eq!(p.pick_variant(targets.iter().map(Vec::as_slice)), Some(2));
        let musl = Platforms::from_flags(&linux_x64_glibc(), &[], &[], &s(&["musl"]));
        assert_eq!(
            musl.pick_variant(targets.iter().map(Vec::as_slice)),
            Some(1)
        );
        let win = Platforms::from_flags(&linux_x64_glibc(), &s(&["win32"]), &[], &[]);
        assert_eq!(win.pick_variant(targets.iter().map(Vec::as_slice)), None);
        assert!(
            Host::current()
                .cpu
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        );
    }
}
