//! `lockfetch fetch` applying npm's network settings end to end: per-registry credentials sent to
//! the matching registry only, `cafile` / `ca` / `strict-ssl` for an HTTPS registry whose CA only
//! the config names, and `https-proxy` / `noproxy`. Loopback only; every run has a deadline.

mod common;

use common::World;
use lockfetch::registry::{Limits, MockProxy, MockRegistry, RegistryOptions, Shaping, TestCa};

/// A registry serving `world`'s tarballs, speaking as `options` say.
fn serve(world: &World, options: RegistryOptions) -> MockRegistry {
    MockRegistry::with_options(
        world.universe.files(),
        Shaping::none(),
        Limits::default(),
        options,
    )
    .unwrap()
}

/// An HTTPS registry (HTTP/2 offered) serving `world`'s tarballs, with a certificate of a CA made
/// for the test, which nothing trusts unless the config says so.
fn serve_https(world: &World) -> (MockRegistry, TestCa) {
    let ca = TestCa::generate().unwrap();
    let options = RegistryOptions {
        tls: Some(ca.clone()),
        http2: true,
        ..RegistryOptions::default()
    };
    (serve(world, options), ca)
}

/// Writes the project's `.npmrc` (beside the lockfile).
fn npmrc(world: &World, text: &str) {
    std::fs::write(world.work().join(".npmrc"), text).unwrap();
}

#[test]
fn each_registry_gets_its_own_token_and_only_its_own() {
    let world = World::new(24);
    let scope = world
        .universe
        .packages
        .iter()
        .find_map(|p| p.name.strip_prefix('@'))
        .map(|rest| format!("@{}", rest.split('/').next().unwrap()))
        .expect("the generated universe has scoped packages");
    let in_scope = world
        .universe
        .packages
        .iter()
        .filter(|p| p.name.starts_with(&format!("{scope}/")))
        .count() as u64;
    let main = serve(
        &world,
        RegistryOptions {
            authorization: Some("Bearer main-token".into()),
            ..RegistryOptions::default()
        },
    );
    let corp = serve(
        &world,
        RegistryOptions {
            authorization: Some("Basic Y29ycDpjb3JwLXBhc3M=".into()),
            ..RegistryOptions::default()
        },
    );
    // `_password` is base64, as npm stores it: "corp-pass".
    npmrc(
        &world,
        &format!(
            "registry={}/\n{scope}:registry={}/\n//{}/:_authToken=${{MAIN_TOKEN}}\n\
             //{}/:username=corp\n//{}/:_password=Y29ycC1wYXNz\n",
            main.url(),
            corp.url(),
            main.addr(),
            corp.addr(),
            corp.addr(),
        ),
    );
    let args = world.fetch_args(&["--no-registry-flag"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = world.run(&args, &[("MAIN_TOKEN", "main-token")]);
    assert_eq!(run.code, 0, "{run:?}");
    let n = world.universe.packages.len() as u64;
    assert_eq!(corp.auth_counts().accepted, in_scope, "{run:?}");
    assert_eq!(main.auth_counts().accepted, n - in_scope, "{run:?}");
    assert_eq!(
        (main.auth_counts().rejected, corp.auth_counts().rejected),
        (0, 0),
        "a token sent to the wrong registry would be rejected there"
    );
    assert!(
        !run.stderr.contains("main-token") && !run.stdout.contains("main-token"),
        "{run:?}"
    );
}

#[test]
fn an_https_registry_trusted_through_cafile_ca_or_strict_ssl() {
    let world = World::new(6);
    let (registry, ca) = serve_https(&world);
    let url = registry.url();
    let args = ["--no-registry-flag"];

    // Untrusted: every package fails with the same cause, which says what to set.
    npmrc(&world, &format!("registry={url}/\n"));
    let run = world.fetch(&args);
    assert_eq!(run.code, 1, "{run:?}");
    let json = run.json();
    let failed = json["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 6, "{run:?}");
    let first = failed[0]["error"].as_str().unwrap();
    assert!(first.contains("cafile"), "{first}");

    // `cafile=` in the project's .npmrc.
    let pem = world.dir.path().join("corp-ca.pem");
    std::fs::write(&pem, ca.ca_pem()).unwrap();
    npmrc(
        &world,
        &format!("registry={url}/\ncafile={}\n", pem.display()),
    );
    let run = world.fetch(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 6, "{run:?}");

    // `ca=` with the PEM inline (newlines escaped as npm writes them), into a fresh cache.
    std::fs::remove_dir_all(world.cache()).unwrap();
    let inline = ca.ca_pem().trim_end().replace('\n', "\\n");
    npmrc(&world, &format!("registry={url}/\nca=\"{inline}\"\n"));
    let run = world.fetch(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["fetched"], 6, "{run:?}");

    // `strict-ssl=false`: no verification, and a warning says so.
    std::fs::remove_dir_all(world.cache()).unwrap();
    npmrc(&world, &format!("registry={url}/\nstrict-ssl=false\n"));
    let run = world.fetch(&args);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.to_lowercase().contains("warning"), "{run:?}");
}

#[test]
fn https_proxy_from_npmrc_and_noproxy() {
    let world = World::new(5);
    let (registry, ca) = serve_https(&world);
    let proxy = MockProxy::start(None).unwrap();
    let pem = world.dir.path().join("ca.pem");
    std::fs::write(&pem, ca.ca_pem()).unwrap();
    let base = format!(
        "registry={}/\ncafile={}\nhttps-proxy={}\n",
        registry.url(),
        pem.display(),
        proxy.url()
    );
    npmrc(&world, &base);
    let run = world.fetch(&["--no-registry-flag"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        proxy.stats().tunnels >= 1,
        "the download went through the proxy"
    );
    assert_eq!(proxy.targets()[0], registry.addr().to_string());

    // `noproxy` naming the registry's host: straight to it.
    std::fs::remove_dir_all(world.cache()).unwrap();
    let tunnels = proxy.stats().tunnels;
    npmrc(&world, &format!("{base}noproxy=127.0.0.1\n"));
    let run = world.fetch(&["--no-registry-flag"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.stats().tunnels, tunnels, "no new tunnel");
}
