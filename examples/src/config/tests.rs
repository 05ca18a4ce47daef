//! Each layer and each key, from temp directories and an injected environment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// A scratch world: a project dir, a home, a node install under `prefix/bin/node`.
struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["project", "home", "prefix/bin", "prefix/etc"] {
            std::fs::create_dir_all(w.path(d)).unwrap();
        }
        std::fs::write(w.path("prefix/bin/node"), "").unwrap();
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.path(rel), text).unwrap();
    }

    /// HOME and PATH set; nothing else.
    fn env(&self) -> Env {
        Env::from_pairs([
            ("HOME", self.path("home").display().to_string()),
            ("PATH", self.path("prefix/bin").display().to_string()),
        ])
    }

    fn load(&self, flag: Option<&str>, env: Env) -> Result<Config, ConfigError> {
        Config::load(&Sources {
            registry_flag: flag.map(String::from),
            env,
            project_dir: self.path("project"),
        })
    }
}

fn registry(c: &Config) -> (&str, &str) {
    let r = c.registry.as_ref().unwrap();
    (r.url(), r.origin())
}

#[test]
fn layers_in_order_of_precedence() {
    let w = World::new();
    w.write("prefix/etc/npmrc", "registry=http://127.0.0.1:5/global\n");
    let c = w.load(None, w.env()).unwrap();
    let global = w.path("prefix/etc/npmrc").display().to_string();
    assert_eq!(
        registry(&c),
        ("http://127.0.0.1:5/global", format!("{global}:1").as_str())
    );

    w.write("home/.npmrc", "\nregistry=http://127.0.0.1:4/user\n");
    let c = w.load(None, w.env()).unwrap();
    assert_eq!(registry(&c).0, "http://127.0.0.1:4/user");
    assert!(
        registry(&c).1.ends_with("home/.npmrc:2"),
        "{}",
        registry(&c).1
    );

    w.write("project/.npmrc", "registry=http://127.0.0.1:3/project\n");
    let c = w.load(None, w.env()).unwrap();
    assert_eq!(registry(&c).0, "http://127.0.0.1:3/project");

    let mut env = w.env();
    env.set("NPM_CONFIG_REGISTRY", "http://127.0.0.1:2/env");
    let c = w.load(None, env.clone()).unwrap();
    assert_eq!(
        registry(&c),
        ("http://127.0.0.1:2/env", "$npm_config_registry")
    );

    let c = w.load(Some("http://127.0.0.1:1/flag/"), env).unwrap();
    assert_eq!(registry(&c), ("http://127.0.0.1:1/flag", "--registry"));
    assert_eq!(
        c.searched(),
        [
            w.path("project/.npmrc"),
            w.path("home/.npmrc"),
            w.path("prefix/etc/npmrc")
        ]
    );
}

#[test]
fn user_and_global_config_locations() {
    let w = World::new();
    w.write(
        "home/other.npmrc",
        "registry=http://127.0.0.1:1/other-user\n",
    );
    w.write("g.npmrc", "registry=http://127.0.0.1:2/other-global\n");
    std::fs::create_dir_all(w.path("p2/etc")).unwrap();
    w.write("p2/etc/npmrc", "registry=http://127.0.0.1:3/prefix\n");

    let mut env = w.env();
    env.set(
        "npm_config_userconfig",
        w.path("home/other.npmrc").display().to_string(),
    );
    assert_eq!(
        registry(&w.load(None, env).unwrap()).0,
        "http://127.0.0.1:1/other-user"
    );

    let mut env = w.env();
    env.set(
        "npm_config_globalconfig",
        w.path("g.npmrc").display().to_string(),
    );
    assert_eq!(
        registry(&w.load(None, env).unwrap()).0,
        "http://127.0.0.1:2/other-global"
    );

    let mut env = w.env();
    env.set("npm_config_prefix", w.path("p2").display().to_string());
    assert_eq!(
        registry(&w.load(None, env).unwrap()).0,
        "http://127.0.0.1:3/prefix"
    );

    // The user config may move the global one, as in npm.
    w.write(
        "home/.npmrc",
        &format!("prefix={}\n", w.path("p2").display()),
    );
    assert_eq!(
        registry(&w.load(None, w.env()).unwrap()).0,
        "http://127.0.0.1:3/prefix"
    );

    // No node on PATH, no prefix: no global config, and the error lists what was searched.
    let env = Env::from_pairs([("HOME", w.path("nohome").display().to_string())]);
    let err = w.load(None, env).unwrap().require_registry().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "no registry configured (npm is not on PATH, so npm's default is unknown): pass --registry URL"
        ),
        "{msg}"
    );
    assert!(msg.contains("project/.npmrc or "), "{msg}");
}

#[test]
fn scoped_registries_and_variables() {
    let w = World::new();
    w.write(
        "project/.npmrc",
        "@corp:registry=http://127.0.0.1:7/${CORP_PATH}/\nregistry=http://127.0.0.1:8\n",
    );
    w.write(
        "home/.npmrc",
        "@corp:registry=http://127.0.0.1:9/ignored\n@other:registry=http://127.0.0.1:6\n",
    );
    let mut env = w.env();
    env.set("CORP_PATH", "corp");
    let c = w.load(None, env).unwrap();
    let r = c.require_registry().unwrap();
    assert_eq!(
        r.tarball_url("@corp/x", "1.0.0"),
        "http://127.0.0.1:7/corp/@corp/x/-/x-1.0.0.tgz"
    );
    assert_eq!(
        r.tarball_url("@other/x", "1.0.0"),
        "http://127.0.0.1:6/@other/x/-/x-1.0.0.tgz"
    );
    assert_eq!(
        r.tarball_url("x", "1.0.0"),
        "http://127.0.0.1:8/x/-/x-1.0.0.tgz"
    );

    // Unset variable: kept as written, with a warning naming file and line.
    let c = w.load(None, w.env()).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("project/.npmrc:1: ${CORP_PATH} is not set"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn credentials_from_every_layer() {
    let w = World::new();
    w.write(
        "home/.npmrc",
        "//127.0.0.1:1/:_authToken=${NPM_TOKEN}\n//127.0.0.1:2/npm/:_auth=dXNlcjpwYXNz\n_authToken=unscoped\n",
    );
    let mut env = w.env();
    env.set("NPM_TOKEN", "tok-from-env-var");
    env.set("npm_config_//127.0.0.1:3/:_authToken", "tok-env-layer");
    let c = w.load(Some("http://127.0.0.1:1/"), env).unwrap();
    let a = &c.auth;
    assert_eq!(
        a.authorization("http://127.0.0.1:1/p/-/p-1.0.0.tgz")
            .as_deref(),
        Some("Bearer tok-from-env-var")
    );
    assert_eq!(
        a.authorization("http://127.0.0.1:2/npm/p/-/p-1.0.0.tgz")
            .as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
    assert_eq!(a.authorization("http://127.0.0.1:2/p/-/p-1.0.0.tgz"), None);
    assert_eq!(
        a.authorization("http://127.0.0.1:3/x.tgz").as_deref(),
        Some("Bearer tok-env-layer")
    );
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("`_authToken` must be scoped")),
        "{:?}",
        c.warnings
    );
    let shown = format!("{c:?}");
    for secret in [
        "tok-from-env-var",
        "dXNlcjpwYXNz",
        "tok-env-layer",
        "unscoped",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(
        c.credentials_key("http://127.0.0.1:1/p/-/p-1.0.0.tgz"),
        "//127.0.0.1:1/:_authToken"
    );
    assert_eq!(
        c.credentials_key("http://127.0.0.1:5/a/b.tgz"),
        "//127.0.0.1:5/:_authToken"
    );
}

#[test]
fn network_keys() {
    let w = World::new();
    let ca = "-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----";
    w.write("prefix/etc/ca.pem", "pem");
    w.write("prefix/etc/npmrc", "cafile=ca.pem\nstrict-ssl=false\n");
    w.write(
        "home/.npmrc",
        &format!("ca[]=\"{ca}\"\nca[]=\"second\"\nhttps-proxy=http://u:p@127.0.0.1:3128\nproxy=http://127.0.0.1:3129\nnoproxy[]=localhost\nnoproxy[]=127.0.0.1\n"),
    );
    let c = w.load(None, w.env()).unwrap();
    let n = &c.network;
    assert_eq!(n.cafiles, [w.path("prefix/etc/ca.pem")]);
    assert_eq!(n.ca.len(), 2);
    assert_eq!(
        n.ca[0],
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    );
    assert!(!n.strict_ssl);
    assert_eq!(n.https_proxy.as_deref(), Some("http://u:p@127.0.0.1:3128"));
    assert_eq!(n.proxy.as_deref(), Some("http://127.0.0.1:3129"));
    assert_eq!(n.noproxy.as_deref(), Some("localhost,127.0.0.1"));

    // The environment overrides files; `cafile=` pointing nowhere is a clear error.
    let mut env = w.env();
    env.set("npm_config_strict_ssl", "true");
    env.set(
        "npm_config_cafile",
        w.path("missing.pem").display().to_string(),
    );
    let err = w.load(None, env).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Read { path, .. } if path.ends_with("missing.pem")),
        "{err}"
    );

    let mut env = w.env();
    env.set("npm_config_strict_ssl", "maybe");
    let err = w.load(None, env).unwrap_err().to_string();
    assert_eq!(
        err,
        "$npm_config_strict_ssl: `strict-ssl=maybe`: expected true or false"
    );
    // Defaults: verify, no extra trust, no proxy.
    let bare = World::new();
    assert_eq!(
        bare.load(None, bare.env()).unwrap().network,
        Network::default()
    );
}

#[test]
fn fetch_keys() {
    let w = World::new();
    w.write(
        "project/.npmrc",
        "network-concurrency=32\nfetch-retries=4\nfetch-retry-mintimeout=50\nfetch-retry-maxtimeout=2000\n",
    );
    let c = w.load(None, w.env()).unwrap();
    assert_eq!(
        c.fetch,
        FetchSettings {
            network_concurrency: Some(32),
            fetch_retries: Some(4),
            fetch_retry_mintimeout: Some(Duration::from_millis(50)),
            fetch_retry_maxtimeout: Some(Duration::from_secs(2)),
        }
    );
    w.write("project/.npmrc", "network-concurrency=0\n");
    let err = w.load(None, w.env()).unwrap_err().to_string();
    assert!(
        err.ends_with(".npmrc:1: `network-concurrency=0`: expected a whole number of at least 1"),
        "{err}"
    );
    assert!(Path::new(&w.path("project")).is_dir());
}

#[cfg(unix)]
#[test]
fn without_a_registry_npm_s_default_applies() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let npm = |script: &str| {
        w.write("prefix/bin/npm", &format!("#!/bin/sh\n{script}\n"));
        std::fs::set_permissions(
            w.path("prefix/bin/npm"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    };
    npm(r#"[ "$*" = "config get registry" ] && echo http://127.0.0.1:4/npm-default/"#);
    w.write("project/.npmrc", "@corp:registry=http://127.0.0.1:6/\n");
    let c = w.load(None, w.env()).unwrap();
    assert_eq!(
        registry(&c),
        (
            "http://127.0.0.1:4/npm-default",
            "npm's default (`npm config get registry`)"
        )
    );
    let r = c.require_registry().unwrap();
    assert_eq!(r.for_package("@corp/x"), "http://127.0.0.1:6");

    // A configured registry wins: npm is not asked.
    npm("exit 7");
    let c = w.load(Some("http://127.0.0.1:5"), w.env()).unwrap();
    assert_eq!(registry(&c).0, "http://127.0.0.1:5");

    // npm failing is named in the error.
    npm("echo 'npm error broken' >&2; exit 7");
    let msg = w
        .load(None, w.env())
        .unwrap()
        .require_registry()
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("no registry configured (`npm config get registry` failed (exit status: 7): npm error broken, so npm's default is unknown)"),
        "{msg}"
    );
}
