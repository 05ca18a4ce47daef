//! Which registry to download from, and the tarball URL of a package.
//!
//! The registry is never built in: it comes from, in order, `--registry`, the environment
//! (`npm_config_registry`, then `NPM_CONFIG_REGISTRY`), the `registry=` line of `./.npmrc`, then of
//! `~/.npmrc`. `@scope:registry=` lines give a registry for one scope. Without any, fetching
//! stops with [`ConfigError::NoRegistry`].

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::lockfile::{Package, Source};

/// Environment variables read for the registry, in order.
pub const REGISTRY_ENV: [&str; 2] = ["npm_config_registry", "NPM_CONFIG_REGISTRY"];

/// The resolved registry configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    url: String,
    origin: String,
    scopes: Vec<(String, String)>,
}

/// Why no usable registry was found.
#[derive(Debug)]
pub enum ConfigError {
    /// Nothing configured a registry.
    NoRegistry {
        /// The `.npmrc` files that were looked at.
        searched: Vec<PathBuf>,
    },
    /// A configured value is not an `http://` or `https://` URL.
    InvalidRegistry {
        /// The value.
        url: String,
        /// Where it came from.
        origin: String,
    },
    /// An `.npmrc` exists but could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoRegistry { searched } => {
                f.write_str(
                    "no registry configured: pass --registry URL, set npm_config_registry, or add a `registry=URL` line to ",
                )?;
                let files: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                f.write_str(&files.join(" or "))
            }
            ConfigError::InvalidRegistry { url, origin } => write!(
                f,
                "registry `{url}` (from {origin}) is not an http:// or https:// URL"
            ),
            ConfigError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl Registry {
    /// A registry at `url` (a trailing slash is dropped); `origin` says where it was configured.
    pub fn new(url: &str, origin: impl Into<String>) -> Result<Registry, ConfigError> {
        let origin = origin.into();
        let url = normalize(url, &origin)?;
        Ok(Registry {
            url,
            origin,
            scopes: Vec::new(),
        })
    }

    /// Resolves the registry from the real flag, environment, `./.npmrc` and `~/.npmrc`.
    pub fn resolve(flag: Option<&str>) -> Result<Registry, ConfigError> {
        let mut npmrcs = vec![PathBuf::from(".npmrc")];
        let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
        if let Some(home) = home.filter(|h| !h.is_empty()) {
            npmrcs.push(Path::new(&home).join(".npmrc"));
        }
        Registry::resolve_from(flag, |name| std::env::var(name).ok(), &npmrcs)
    }

    /// Resolves from explicit sources (for tests and embedding): the flag, an environment lookup,
    /// and `.npmrc` files in order of precedence (missing ones are skipped).
    pub fn resolve_from(
        flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
        npmrcs: &[PathBuf],
    ) -> Result<Registry, ConfigError> {
        let mut scopes: Vec<(String, String)> = Vec::new();
        let mut found: Option<Registry> = None;
        if let Some(url) = flag.filter(|u| !u.trim().is_empty()) {
            found = Some(Registry::new(url, "--registry")?);
        }
        if found.is_none() {
            for name in REGISTRY_ENV {
                if let Some(url) = env(name).filter(|u| !u.trim().is_empty()) {
                    found = Some(Registry::new(&url, format!("${name}"))?);
                    break;
                }
            }
        }
        for path in npmrcs {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.clone(),
                        source,
                    });
                }
            };
            let origin = path.display().to_string();
            for (key, value) in npmrc_entries(&text) {
                if key == "registry" && found.is_none() {
                    found = Some(Registry::new(value, origin.as_str())?);
                } else if let Some(scope) = key.strip_suffix(":registry")
                    && scope.starts_with('@')
                    && !scopes.iter().any(|(s, _)| s == scope)
                {
                    scopes.push((scope.to_string(), normalize(value, &origin)?));
                }
            }
        }
        let mut registry = found.ok_or_else(|| ConfigError::NoRegistry {
            searched: npmrcs.to_vec(),
        })?;
        registry.scopes = scopes;
        Ok(registry)
    }

    /// The registry URL, without trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the URL was configured (`--registry`, `$npm_config_registry`, a file path).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The registry for package `name` (its scope's, if one is configured).
    pub fn for_package(&self, name: &str) -> &str {
        if let Some((scope, _)) = name.split_once('/')
            && let Some((_, url)) = self.scopes.iter().find(|(s, _)| s == scope)
        {
            return url;
        }
        &self.url
    }

    /// `{registry}/{name}/-/{unscoped-name}-{version}.tgz`.
    pub fn tarball_url(&self, name: &str, version: &str) -> String {
        let unscoped = name.rsplit('/').next().unwrap_or(name);
        format!(
            "{}/{name}/-/{unscoped}-{version}.tgz",
            self.for_package(name)
        )
    }

    /// Where `package`'s tarball is: `resolution.tarball` if the lockfile gives one, else the
    /// registry URL. `None` for resolutions that cannot be fetched (git, directory).
    pub fn package_url(&self, package: &Package) -> Option<String> {
        match &package.source {
            Source::Registry => Some(self.tarball_url(&package.name, &package.version)),
            Source::Tarball(url) => Some(url.clone()),
            Source::Variations(_) | Source::Skipped(_) => None,
        }
    }
}

fn normalize(url: &str, origin: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_matches(['"', '\'']).trim_end_matches('/');
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|s| trimmed.len() > s.len() && trimmed[..s.len()].eq_ignore_ascii_case(s));
    if !scheme_ok {
        return Err(ConfigError::InvalidRegistry {
            url: url.to_string(),
            origin: origin.to_string(),
        });
    }
    Ok(trimmed.to_string())
}

/// `key=value` lines of an `.npmrc`, without comments (`#`, `;`) and blank lines.
fn npmrc_entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            return None;
        }
        let (key, value) = line.split_once('=')?;
        Some((key.trim(), value.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flag_wins_then_env_then_files() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local.npmrc");
        let home = dir.path().join("home.npmrc");
        std::fs::write(&local, "; comment\nregistry = http://127.0.0.1:1/local/\n").unwrap();
        std::fs::write(&home, "registry=http://127.0.0.1:2/home\n").unwrap();
        let files = [local.clone(), home.clone()];
        let env =
            |name: &str| (name == "NPM_CONFIG_REGISTRY").then(|| "http://127.0.0.1:3/".into());

        let r = Registry::resolve_from(Some("http://127.0.0.1:4//"), env, &files).unwrap();
        assert_eq!((r.url(), r.origin()), ("http://127.0.0.1:4", "--registry"));
        let r = Registry::resolve_from(None, env, &files).unwrap();
        assert_eq!(
            (r.url(), r.origin()),
            ("http://127.0.0.1:3", "$NPM_CONFIG_REGISTRY")
        );
        let lower =
            |name: &str| (name == "npm_config_registry").then(|| "http://127.0.0.1:5".into());
        assert_eq!(
            Registry::resolve_from(None, lower, &files).unwrap().url(),
            "http://127.0.0.1:5"
        );
        let r = Registry::resolve_from(None, no_env, &files).unwrap();
        assert_eq!(r.url(), "http://127.0.0.1:1/local");
        assert_eq!(r.origin(), local.display().to_string());
        let r = Registry::resolve_from(None, no_env, &files[1..]).unwrap();
        assert_eq!(r.url(), "http://127.0.0.1:2/home");
    }

    #[test]
    fn nothing_configured_is_a_clear_error() {
        let files = [PathBuf::from("/nonexistent/.npmrc")];
        let err = Registry::resolve_from(None, no_env, &files).unwrap_err();
        assert!(matches!(err, ConfigError::NoRegistry { .. }));
        let msg = err.to_string();
        assert!(
            msg.starts_with("no registry configured: pass --registry URL"),
            "{msg}"
        );
        assert!(msg.contains("/nonexistent/.npmrc"), "{msg}");

        let err = Registry::resolve_from(Some("127.0.0.1:1"), no_env, &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry `127.0.0.1:1` (from --registry) is not an http:// or https:// URL"
        );
    }

    #[test]
    fn tarball_urls() {
        let r = Registry::new("http://127.0.0.1:9/npm/", "test").unwrap();
        assert_eq!(
            r.tarball_url("left-pad", "1.3.0"),
            "http://127.0.0.1:9/npm/left-pad/-/left-pad-1.3.0.tgz"
        );
        assert_eq!(
            r.tarball_url("@s/core", "7.0.0"),
            "http://127.0.0.1:9/npm/@s/core/-/core-7.0.0.tgz"
        );
    }

    #[test]
    fn scoped_registries() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join(".npmrc");
        std::fs::write(
            &rc,
            "@corp:registry=http://127.0.0.1:7/corp/\nregistry=http://127.0.0.1:8\n",
        )
        .unwrap();
        let r = Registry::resolve_from(None, no_env, &[rc]).unwrap();
        assert_eq!(
            r.tarball_url("@corp/x", "1.0.0"),
            "http://127.0.0.1:7/corp/@corp/x/-/x-1.0.0.tgz"
        );
        assert_eq!(
            r.tarball_url("@other/x", "1.0.0"),
            "http://127.0.0.1:8/@other/x/-/x-1.0.0.tgz"
        );
    }
}
