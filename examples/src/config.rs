//! npm's configuration, read the way npm and pnpm read it.
//!
//! Layers, highest precedence first (the first layer that sets a key wins):
//!
//! 1. command-line flags (`--registry`);
//! 2. `npm_config_*` environment variables, the prefix in any case (`npm_config_fetch_retries`
//!    is `fetch-retries`; `npm_config_//host/:_authToken` keeps its key);
//! 3. the project's `.npmrc`, next to the lockfile;
//! 4. the user's: `$npm_config_userconfig` (or `userconfig=` in a layer above), else
//!    `~/.npmrc`;
//! 5. the global one: `$npm_config_globalconfig` (or `globalconfig=`), else
//!    `$PREFIX/etc/npmrc`, the prefix being `prefix=` / `$npm_config_prefix`, else `$PREFIX`, else
//!    node's install: the directory above the `bin/` holding `node` on `PATH`.
//!
//! Without a `registry` key in any layer, npm's own default applies, as npm and pnpm use it:
//! what `npm config get registry` prints, when npm is on `PATH` (no registry is written in this
//! crate).
//!
//! Keys read: `registry`, `@scope:registry`, per-registry credentials ([`Auth`]), `cafile`, `ca`,
//! `strict-ssl`, `https-proxy`, `proxy`, `noproxy` ([`Network`]), `network-concurrency`,
//! `fetch-retries`, `fetch-retry-mintimeout`, `fetch-retry-maxtimeout` ([`FetchSettings`]).
//! `${VAR}` is expanded in files (see [`npmrc`]). Credentials are never printed: [`Auth`] and
//! [`Network`] hide them from `Debug`, and [`Auth::redact`] scrubs them from messages.
//!
//! Everything is read from a [`Sources`] (flags, an [`Env`] map, the project directory), so tests
//! never touch the real home directory or process environment.

mod auth;
mod env;
mod error;
mod network;
mod npm_default;
pub mod npmrc;
mod registry;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use auth::{Auth, CREDENTIAL_SUFFIXES, nerf_of_url, redact_userinfo, token_key};
pub use env::Env;
pub use error::ConfigError;
pub use network::Network;
pub use registry::Registry;

use npmrc::{Entry, Value};

/// Where the configuration is read from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// `--registry`, if given.
    pub registry_flag: Option<String>,
    /// The environment.
    pub env: Env,
    /// The project directory (the lockfile's), whose `.npmrc` is the project layer.
    pub project_dir: PathBuf,
}

/// The download settings of npm's config; `None` where unset (the CLI's defaults apply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchSettings {
    /// `network-concurrency`: downloads at once.
    pub network_concurrency: Option<usize>,
    /// `fetch-retries`: retries after the first attempt.
    pub fetch_retries: Option<u32>,
    /// `fetch-retry-mintimeout`: the first retry's delay.
    pub fetch_retry_mintimeout: Option<Duration>,
    /// `fetch-retry-maxtimeout`: the longest delay between attempts.
    pub fetch_retry_maxtimeout: Option<Duration>,
}

/// One layer: where it comes from and its settings.
#[derive(Debug, Clone)]
struct Layer {
    /// `--registry`, `environment`, or the file's path.
    origin: String,
    /// The file's directory (relative paths in it are resolved from there).
    dir: Option<PathBuf>,
    entries: Vec<Entry>,
}

impl Layer {
    fn origin_of(&self, entry: &Entry) -> String {
        match (&self.dir, entry.line) {
            (Some(_), line) if line > 0 => format!("{}:{line}", self.origin),
            _ if self.origin == "environment" => {
                format!("$npm_config_{}", entry.key.replace('-', "_"))
            }
            _ => self.origin.clone(),
        }
    }
}

/// The configuration in force.
#[derive(Debug, Clone)]
pub struct Config {
    layers: Vec<Layer>,
    searched: Vec<PathBuf>,
    /// Why npm's default registry is not used when none is configured.
    npm_default: Option<String>,
    /// The registries: the configured ones, else npm's default.
    pub registry: Option<Registry>,
    /// Per-registry credentials.
    pub auth: Auth,
    /// Trust and proxies.
    pub network: Network,
    /// Concurrency and retries.
    pub fetch: FetchSettings,
    /// Things worth telling the user (an unset `${VAR}`, an unscoped token).
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads the real flags, the process environment and the config files of `project_dir`.
    pub fn load_from_process(
        registry_flag: Option<&str>,
        project_dir: &Path,
    ) -> Result<Config, ConfigError> {
        Config::load(&Sources {
            registry_flag: registry_flag.map(String::from),
            env: Env::from_process(),
            project_dir: project_dir.to_path_buf(),
        })
    }

    /// Reads every layer from `sources`.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let env = &sources.env;
        let mut warnings = Vec::new();
        let mut layers = Vec::new();
        if let Some(url) = sources
            .registry_flag
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        {
            layers.push(Layer {
                origin: "--registry".into(),
                dir: None,
                entries: vec![Entry {
                    key: "registry".into(),
                    value: Value::One(url.to_string()),
                    line: 0,
                }],
            });
        }
        layers.push(Layer {
            origin: "environment".into(),
            dir: None,
            entries: env
                .npm_config()
                .into_iter()
                .map(|(key, value)| Entry {
                    key,
                    value: Value::One(value),
                    line: 0,
                })
                .collect(),
        });

        let mut searched = Vec::new();
        let project = sources.project_dir.join(".npmrc");
        read_layer(&project, env, &mut layers, &mut searched, &mut warnings)?;

        let home = env
            .non_empty("HOME")
            .or_else(|| env.non_empty("USERPROFILE"));
        let user = match lookup(&layers, "userconfig") {
            Some((v, layer)) => Some(resolve_path(v.as_str(), layer, home)),
            None => home.map(|h| Path::new(h).join(".npmrc")),
        };
        if let Some(user) = user {
            read_layer(&user, env, &mut layers, &mut searched, &mut warnings)?;
        }

        let global = match lookup(&layers, "globalconfig") {
            Some((v, layer)) => Some(resolve_path(v.as_str(), layer, home)),
            None => global_prefix(&layers, env, home).map(|p| p.join("etc").join("npmrc")),
        };
        if let Some(global) = global {
            read_layer(&global, env, &mut layers, &mut searched, &mut warnings)?;
        }

        for layer in &layers {
            for entry in &layer.entries {
                if matches!(entry.key.as_str(), "_authToken" | "_auth" | "_password") {
                    warnings.push(format!(
                        "{}: `{}` must be scoped to a registry, as `//host/:{}`; ignored",
                        layer.origin_of(entry),
                        entry.key,
                        entry.key
                    ));
                }
            }
        }

        let mut config = Config {
            layers,
            searched,
            npm_default: None,
            registry: None,
            auth: Auth::default(),
            network: Network::default(),
            fetch: FetchSettings::default(),
            warnings,
        };
        config.registry = config.read_registry(env, &sources.project_dir)?;
        config.auth = Auth::from_settings(
            config
                .layers
                .iter()
                .flat_map(|l| &l.entries)
                .map(|e| (e.key.as_str(), e.value.as_str())),
        );
        config.network = config.read_network(home)?;
        config.fetch = FetchSettings {
            network_concurrency: config.number("network-concurrency", 1)?,
            fetch_retries: config.number("fetch-retries", 0)?,
            fetch_retry_mintimeout: config
                .number::<u64>("fetch-retry-mintimeout", 0)?
                .map(Duration::from_millis),
            fetch_retry_maxtimeout: config
                .number::<u64>("fetch-retry-maxtimeout", 0)?
                .map(Duration::from_millis),
        };
        Ok(config)
    }

    /// The registries, or [`ConfigError::NoRegistry`] naming the files looked at.
    pub fn require_registry(&self) -> Result<&Registry, ConfigError> {
        self.registry
            .as_ref()
            .ok_or_else(|| ConfigError::NoRegistry {
                searched: self.searched.clone(),
                npm: self.npm_default.clone().unwrap_or_default(),
            })
    }

    /// The config files looked at, highest precedence first.
    pub fn searched(&self) -> &[PathBuf] {
        &self.searched
    }

    /// The value of `key` and where it was set (`path:line`, `$npm_config_…`, `--registry`).
    pub fn get(&self, key: &str) -> Option<(&str, String)> {
        let (entry, layer) = self.entry(key)?;
        Some((entry.value.as_str(), layer.origin_of(entry)))
    }

    /// The key that would carry the credentials for `url`: `//host/path/:_authToken` of the
    /// configured registry serving it (the longest prefix), else of its host.
    pub fn credentials_key(&self, url: &str) -> String {
        let registry = self.registry.iter().flat_map(Registry::urls).filter(|r| {
            let (Some(r), Some(u)) = (nerf_of_url(r), nerf_of_url(url)) else {
                return false;
            };
            u == r || u.starts_with(&format!("{r}/"))
        });
        match registry.max_by_key(|r| r.len()) {
            Some(r) => token_key(r),
            None => {
                let nerf = nerf_of_url(url).unwrap_or_default();
                let host = nerf.trim_start_matches('/').split('/').next().unwrap_or("");
                format!("//{host}/:_authToken")
            }
        }
    }

    /// Where each setting in force comes from, one line each, credentials by key only (for
    /// `--verbose`).
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.registry {
            out.push(format!(
                "registry {} (from {})",
                redact_userinfo(r.url()),
                r.origin()
            ));
        }
        let shown = [
            "cafile",
            "ca",
            "strict-ssl",
            "https-proxy",
            "proxy",
            "noproxy",
            "network-concurrency",
            "fetch-retries",
            "fetch-retry-mintimeout",
            "fetch-retry-maxtimeout",
        ];
        for layer in &self.layers {
            for entry in &layer.entries {
                let first = self
                    .entry(&entry.key)
                    .is_some_and(|(e, _)| std::ptr::eq(e, entry));
                if !first {
                    continue;
                }
                let origin = layer.origin_of(entry);
                if entry.key.ends_with(":registry") && entry.key.starts_with('@') {
                    out.push(format!(
                        "{} {} (from {origin})",
                        entry.key,
                        redact_userinfo(entry.value.as_str())
                    ));
                } else if auth::CREDENTIAL_SUFFIXES
                    .iter()
                    .any(|s| entry.key.starts_with("//") && entry.key.ends_with(s))
                {
                    out.push(format!("{} is set (from {origin})", entry.key));
                } else if entry.key == "ca" {
                    let n = entry.value.to_list().len();
                    out.push(format!("ca: {n} certificate(s) (from {origin})"));
                } else if shown.contains(&entry.key.as_str()) {
                    out.push(format!(
                        "{}={} (from {origin})",
                        entry.key,
                        redact_userinfo(entry.value.as_str())
                    ));
                }
            }
        }
        out
    }

    fn entry(&self, key: &str) -> Option<(&Entry, &Layer)> {
        self.layers
            .iter()
            .find_map(|l| l.entries.iter().find(|e| e.key == key).map(|e| (e, l)))
    }

    /// The configured `registry` and `@scope:registry` keys; without a `registry` key, npm's own
    /// default (see [`npm_default`]).
    fn read_registry(
        &mut self,
        env: &Env,
        project_dir: &Path,
    ) -> Result<Option<Registry>, ConfigError> {
        let mut registry = match self.entry("registry") {
            Some((entry, layer)) => Registry::new(entry.value.as_str(), layer.origin_of(entry))?,
            None => match npm_default::ask_npm(env, project_dir) {
                npm_default::NpmDefault::Url(url) => Registry::new(&url, npm_default::ORIGIN)?,
                npm_default::NpmDefault::Unavailable(why) => {
                    self.npm_default = Some(why);
                    return Ok(None);
                }
            },
        };
        for layer in &self.layers {
            for entry in &layer.entries {
                if let Some(scope) = entry.key.strip_suffix(":registry")
                    && scope.starts_with('@')
                    && !scope.contains('/')
                {
                    registry = registry.with_scope(
                        scope,
                        entry.value.as_str(),
                        &layer.origin_of(entry),
                    )?;
                }
            }
        }
        Ok(Some(registry))
    }

    fn read_network(&self, home: Option<&str>) -> Result<Network, ConfigError> {
        let text = |key: &str| {
            self.entry(key)
                .map(|(e, _)| e.value.as_str().trim().to_string())
                .filter(|v| !v.is_empty() && v != "null")
        };
        let mut network = Network::default();
        if let Some((entry, layer)) = self.entry("cafile")
            && !matches!(entry.value.as_str().trim(), "" | "null")
        {
            let path = resolve_path(entry.value.as_str(), layer, home);
            if let Err(source) = std::fs::metadata(&path) {
                return Err(ConfigError::Read { path, source });
            }
            network.cafiles.push(path);
        }
        if let Some((entry, _)) = self.entry("ca") {
            network.ca = entry
                .value
                .to_list()
                .into_iter()
                .filter(|c| !c.trim().is_empty() && c != "null")
                .collect();
        }
        if let Some((entry, layer)) = self.entry("strict-ssl") {
            network.strict_ssl = match entry.value.as_str().trim() {
                "true" | "" => true,
                "false" => false,
                other => {
                    return Err(ConfigError::Invalid {
                        key: entry.key.clone(),
                        value: other.to_string(),
                        origin: layer.origin_of(entry),
                        expected: "true or false",
                    });
                }
            };
        }
        network.https_proxy = text("https-proxy");
        network.proxy = text("proxy");
        network.noproxy = self
            .entry("noproxy")
            .map(|(e, _)| e.value.to_list().join(","))
            .filter(|v| !v.trim().is_empty() && v != "null");
        Ok(network)
    }

    fn number<T: std::str::FromStr + PartialOrd + From<u8>>(
        &self,
        key: &str,
        min: u8,
    ) -> Result<Option<T>, ConfigError> {
        let Some((entry, layer)) = self.entry(key) else {
            return Ok(None);
        };
        match entry.value.as_str().trim().parse::<T>() {
            Ok(n) if n >= T::from(min) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                key: key.to_string(),
                value: entry.value.as_str().to_string(),
                origin: layer.origin_of(entry),
                expected: if min == 0 {
                    "a whole number"
                } else {
                    "a whole number of at least 1"
                },
            }),
        }
    }
}

/// The first layer's value of `key`.
fn lookup<'a>(layers: &'a [Layer], key: &str) -> Option<(&'a Value, &'a Layer)> {
    layers.iter().find_map(|l| {
        l.entries
            .iter()
            .find(|e| e.key == key && !e.value.as_str().trim().is_empty())
            .map(|e| (&e.value, l))
    })
}

/// npm's global prefix: `prefix=` in a layer read so far, else `$PREFIX`, else the directory
/// above the `bin/` holding `node` on `PATH`.
fn global_prefix(layers: &[Layer], env: &Env, home: Option<&str>) -> Option<PathBuf> {
    if let Some((value, layer)) = lookup(layers, "prefix") {
        return Some(resolve_path(value.as_str(), layer, home));
    }
    if let Some(prefix) = env.non_empty("PREFIX") {
        return Some(PathBuf::from(prefix));
    }
    let node = env.which("node")?;
    let node = std::fs::canonicalize(&node).unwrap_or(node);
    Some(node.parent()?.parent()?.to_path_buf())
}

/// A path setting: `~/` is the home directory; a relative path is relative to the file that
/// set it (or the working directory for flags and the environment).
fn resolve_path(value: &str, layer: &Layer, home: Option<&str>) -> PathBuf {
    let value = value.trim();
    if let (Some(rest), Some(home)) = (value.strip_prefix("~/"), home) {
        return Path::new(home).join(rest);
    }
    match &layer.dir {
        Some(dir) => dir.join(value),
        None => PathBuf::from(value),
    }
}

/// Reads one config file into a layer (a missing file adds nothing).
fn read_layer(
    path: &Path,
    env: &Env,
    layers: &mut Vec<Layer>,
    searched: &mut Vec<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if searched.iter().any(|p| p == path) {
        return Ok(());
    }
    searched.push(path.to_path_buf());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let origin = path.display().to_string();
    let entries = npmrc::parse(&text, env, &origin, warnings);
    layers.push(Layer {
        origin,
        dir: path.parent().map(Path::to_path_buf),
        entries,
    });
    Ok(())
}

#[cfg(test)]
mod tests;
