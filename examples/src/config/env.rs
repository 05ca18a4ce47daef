//! The environment a configuration is read from, as a map (the process's, or a test's).

use std::collections::BTreeMap;
use std::ffi::OsStr;

/// Environment variables. Tests build one with [`Env::from_pairs`]; the CLI takes the process's.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for Env {
    /// Names only: values may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    /// The process's environment (variables that are not UTF-8 are left out).
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment holding exactly `pairs`.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Sets one variable.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.vars.insert(name.into(), value.into());
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable, as `(name, value)`.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `name` if set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// npm's reading of `npm_config_*` variables (the prefix in any case; empty values ignored):
    /// `npm_config_fetch_retries` is the key `fetch-retries`; a key starting with `//` is kept
    /// as written.
    pub fn npm_config(&self) -> Vec<(String, String)> {
        const PREFIX: &str = "npm_config_";
        let mut out = Vec::new();
        for (name, value) in &self.vars {
            if value.is_empty()
                || name.len() <= PREFIX.len()
                || !name.is_char_boundary(PREFIX.len())
                || !name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
            {
                continue;
            }
            let key = &name[PREFIX.len()..];
            let key = if key.starts_with("//") {
                key.to_string()
            } else {
                let mut k = String::with_capacity(key.len());
                for (i, c) in key.chars().enumerate() {
                    k.push(if c == '_' && i > 0 {
                        '-'
                    } else {
                        c.to_ascii_lowercase()
                    });
                }
                k
            };
            out.push((key, value.clone()));
        }
        out
    }

    /// Where `program` is on `PATH`, if anywhere.
    pub fn which(&self, program: &str) -> Option<std::path::PathBuf> {
        let path = self.get("PATH")?;
        std::env::split_paths(OsStr::new(path))
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npm_config_variables_in_any_case() {
        let env = Env::from_pairs([
            ("npm_config_fetch_retries", "4"),
            ("NPM_CONFIG_STRICT_SSL", "false"),
            ("Npm_Config_//127.0.0.1:1/:_authToken", "t"),
            ("npm_config_empty", ""),
            ("npm_config__private", "x"),
            ("OTHER", "y"),
        ]);
        let mut got = env.npm_config();
        got.sort();
        assert_eq!(
            got,
            [
                ("//127.0.0.1:1/:_authToken".to_string(), "t".to_string()),
                ("_private".into(), "x".into()),
                ("fetch-retries".into(), "4".into()),
                ("strict-ssl".into(), "false".into()),
            ]
        );
        assert!(!format!("{env:?}").contains("false"));
    }
}
