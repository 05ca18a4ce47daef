//! The serde shapes of a lockfile document: only the fields fetching reads.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

#[derive(Deserialize)]
pub(super) struct Head {
    #[serde(rename = "lockfileVersion")]
    pub(super) lockfile_version: Option<yaml_serde::Value>,
}

#[derive(Deserialize)]
pub(super) struct Raw {
    #[serde(default)]
    pub(super) importers: Ordered<RawImporter>,
    #[serde(default)]
    pub(super) packages: Ordered<RawPackage>,
    #[serde(default)]
    pub(super) snapshots: Ordered<RawSnapshot>,
}

/// One entry of `snapshots:` (a package in its peer context) and what it depends on.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawSnapshot {
    #[serde(default)]
    pub(super) dependencies: Ordered<yaml_serde::Value>,
    #[serde(default)]
    pub(super) optional_dependencies: Ordered<yaml_serde::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawImporter {
    #[serde(default)]
    pub(super) dependencies: Ordered<RawDependency>,
    #[serde(default)]
    pub(super) dev_dependencies: Ordered<RawDependency>,
    #[serde(default)]
    pub(super) optional_dependencies: Ordered<RawDependency>,
    /// Only in the environment document pnpm writes before the project's.
    pub(super) config_dependencies: Option<yaml_serde::Value>,
    /// Only in the environment document.
    pub(super) package_manager_dependencies: Option<yaml_serde::Value>,
}

impl RawImporter {
    /// Whether this importer belongs to pnpm's environment document (config dependencies and the
    /// package manager), not to a project.
    pub(super) fn is_environment(&self) -> bool {
        (self.config_dependencies.is_some() || self.package_manager_dependencies.is_some())
            && self.dependencies.0.is_empty()
            && self.dev_dependencies.0.is_empty()
            && self.optional_dependencies.0.is_empty()
    }
}

#[derive(Deserialize)]
pub(super) struct RawDependency {
    pub(super) version: String,
}

#[derive(Deserialize)]
pub(super) struct RawPackage {
    pub(super) resolution: Option<RawResolution>,
    #[serde(default)]
    pub(super) os: OneOrMany,
    #[serde(default)]
    pub(super) cpu: OneOrMany,
    #[serde(default)]
    pub(super) libc: OneOrMany,
}

#[derive(Deserialize)]
pub(super) struct RawResolution {
    pub(super) integrity: Option<String>,
    pub(super) tarball: Option<String>,
    /// `binary` resolutions (a runtime's archive) give `url` instead of `tarball`.
    pub(super) url: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) variants: Vec<RawVariant>,
}

#[derive(Deserialize)]
pub(super) struct RawVariant {
    #[serde(default)]
    pub(super) targets: Vec<RawTarget>,
    pub(super) resolution: RawResolution,
}

#[derive(Deserialize)]
pub(super) struct RawTarget {
    pub(super) os: String,
    pub(super) cpu: String,
    pub(super) libc: Option<String>,
}

/// `os: [linux]`, `os: linux` or nothing.
#[derive(Default)]
pub(super) struct OneOrMany(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
            Nothing(()),
        }
        Ok(OneOrMany(match Either::deserialize(d)? {
            Either::One(s) => vec![s],
            Either::Many(v) => v,
            Either::Nothing(()) => Vec::new(),
        }))
    }
}

/// A YAML map read in file order; `null` (an empty section) reads as empty.
pub(super) struct Ordered<V>(pub(super) Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V_<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Ordered::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_any(V_(PhantomData))
    }
}

/// The documents of a YAML stream as pnpm writes it (`---` lines between them), each with the
/// 0-based line it starts on. A file without `---` is one document.
pub(super) fn documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 0;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare.starts_with("--- ") {
            if offset > start_byte || i > 0 {
                docs.push((start_line, &text[start_byte..offset]));
            }
            start_byte = offset + line.len();
            start_line = i + 1;
        }
        offset += line.len();
    }
    docs.push((start_line, &text[start_byte..]));
    docs.retain(|(_, d)| !d.trim().is_empty());
    docs
}
