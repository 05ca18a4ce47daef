//! [`Registry`]: the default registry, the scoped ones, and a package's tarball URL.

use super::ConfigError;

/// The registries packages are downloaded from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    url: String,
    origin: String,
    scopes: Vec<(String, String)>,
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

    /// Adds the registry of `scope` (`@corp`); the first one added for a scope stays.
    pub fn with_scope(mut self, scope: &str, url: &str, origin: &str) -> Result<Self, ConfigError> {
        if !self.scopes.iter().any(|(s, _)| s == scope) {
            self.scopes
                .push((scope.to_string(), normalize(url, origin)?));
        }
        Ok(self)
    }

    /// The registry URL, without trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the URL was configured (`--registry`, `$npm_config_registry`, a file path).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Every registry URL: the default one, then the scoped ones.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.url.as_str()).chain(self.scopes.iter().map(|(_, u)| u.as_str()))
    }

    /// Whether `url` is under one of the registries (the default one or a scope's).
    pub fn serves(&self, url: &str) -> bool {
        self.urls().any(|r| {
            url.strip_prefix(r)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
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
}

/// Checks the scheme and drops quotes and trailing slashes.
pub(super) fn normalize(url: &str, origin: &str) -> Result<String, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let r = r
            .with_scope("@s", "http://127.0.0.1:8/", "x")
            .unwrap()
            .with_scope("@s", "http://127.0.0.1:7/", "y")
            .unwrap();
        assert_eq!(
            r.tarball_url("@s/core", "7.0.0"),
            "http://127.0.0.1:8/@s/core/-/core-7.0.0.tgz"
        );
        assert_eq!(r.urls().count(), 2);
        assert!(r.serves("http://127.0.0.1:9/npm/a/-/a-1.tgz"));
        assert!(r.serves("http://127.0.0.1:8/@s/core/-/core-7.0.0.tgz"));
        assert!(!r.serves("http://127.0.0.1:9/npmx/a.tgz"));
        assert!(!r.serves("http://127.0.0.1:90/npm/a.tgz"));
    }

    #[test]
    fn bad_urls_name_their_origin() {
        let err = Registry::new("ftp://me:pw@127.0.0.1/", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry `ftp://***@127.0.0.1/` (from x) is not an http:// or https:// URL"
        );
        let err = Registry::new("127.0.0.1:1", "--registry").unwrap_err();
        assert_eq!(
            err.to_string(),
            "registry `127.0.0.1:1` (from --registry) is not an http:// or https:// URL"
        );
    }
}
