//! [`ConfigError`]: why the configuration cannot be used, naming the setting and where it is.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why no usable configuration was found.
#[derive(Debug)]
pub enum ConfigError {
    /// Nothing configured a registry (and the lockfile needs one).
    NoRegistry {
        /// The config files that were looked at.
        searched: Vec<PathBuf>,
        /// Why npm's own default could not be had (npm not on `PATH`, or failing).
        npm: String,
    },
    /// A configured registry is not an `http://` or `https://` URL.
    InvalidRegistry {
        /// The value.
        url: String,
        /// Where it came from.
        origin: String,
    },
    /// A config file exists but could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A setting has a value of the wrong kind.
    Invalid {
        /// The key.
        key: String,
        /// The value as written (never a credential: those are not validated).
        value: String,
        /// Where it came from (`path:line`, `$npm_config_…`, `--flag`).
        origin: String,
        /// What was expected (`a whole number ≥ 1`, `true or false`, …).
        expected: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoRegistry { searched, npm } => {
                write!(
                    f,
                    "no registry configured ({npm}, so npm's default is unknown): pass --registry URL, \
                     set npm_config_registry, or add a `registry=URL` line to "
                )?;
                let files: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
                f.write_str(&files.join(" or "))
            }
            ConfigError::InvalidRegistry { url, origin } => write!(
                f,
                "registry `{}` (from {origin}) is not an http:// or https:// URL",
                super::redact_userinfo(url)
            ),
            ConfigError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            ConfigError::Invalid {
                key,
                value,
                origin,
                expected,
            } => write!(f, "{origin}: `{key}={value}`: expected {expected}"),
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
