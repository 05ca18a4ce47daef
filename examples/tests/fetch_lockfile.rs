//! Lockfiles as pnpm 10 and 11 write them (fixtures made with pnpm, registry hosts removed):
//! several documents, every resolution kind, platform fields, runtime variations.

use lockfetch::integrity::Algorithm;
use lockfetch::lockfile::{Lockfile, ParseOptions, Skip, Source};
use lockfetch::platform::{Host, Platforms, Requirements};

fn fixture(name: &str) -> Lockfile {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Lockfile::read(&path, ParseOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn linux_x64_glibc() -> Platforms {
    Platforms::host(&Host {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some("glibc".into()),
    })
}

#[test]
fn pnpm10_platform_packages_are_filtered() {
    let lock = fixture("pnpm10-platforms.yaml");
    assert_eq!(lock.packages.len(), 31);
    let platforms = linux_x64_glibc();
    let wanted: Vec<&str> = lock
        .packages
        .iter()
        .filter(|p| platforms.accepts(&p.platform))
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        wanted,
        [
            "@esbuild/linux-x64@0.23.1",
            "@types/node@22.0.0",
            "esbuild@0.23.1",
            "is-number@6.0.0",
            "is-odd@3.0.1",
            "local-dir@file:local-dir",
            "undici-types@6.11.1",
        ]
    );
    let fsevents = lock.package("fsevents@2.3.3").unwrap();
    assert_eq!(fsevents.platform.os, ["darwin"]);
    assert!(!platforms.accepts(&fsevents.platform));
    let local = lock.package("local-dir@file:local-dir").unwrap();
    assert_eq!(local.source, Source::Skipped(Skip::Directory));
    assert!(Platforms::all().accepts(&fsevents.platform));
    assert_eq!(
        lock.direct_keys(),
        [
            "@types/node@22.0.0",
            "esbuild@0.23.1",
            "is-odd@3.0.1",
            "fsevents@2.3.3"
        ]
    );
}

#[test]
fn pnpm11_reads_the_project_document() {
    let lock = fixture("pnpm11-two-documents.yaml");
    let keys: Vec<&str> = lock.packages.iter().map(|p| p.key.as_str()).collect();
    assert!(!keys.contains(&"pnpm@11.0.0"), "{keys:?}");
    assert_eq!(keys.len(), 9, "{keys:?}");
    assert_eq!(lock.importers.len(), 1);
    assert_eq!(lock.importers[0].dependencies.len(), 7);

    // Lines count from the top of the file, not of the document.
    let text = std::fs::read_to_string(format!(
        "{}/tests/fixtures/pnpm11-two-documents.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let sharp = lock.package("@img/sharp-like-linux-x64@1.0.0").unwrap();
    let line = text.lines().nth(sharp.line.unwrap() - 1).unwrap();
    assert_eq!(line.trim(), "'@img/sharp-like-linux-x64@1.0.0':");
    assert_eq!(
        sharp.platform,
        Requirements {
            os: vec!["linux".into()],
            cpu: vec!["x64".into()],
            libc: vec!["glibc".into()],
        }
    );
    let musl = lock.package("@img/sharp-like-linuxmusl-x64@1.0.0").unwrap();
    assert!(!linux_x64_glibc().accepts(&musl.platform));
    assert!(linux_x64_glibc().accepts(&sharp.platform));

    let skipped = |key: &str| match &lock.package(key).unwrap().source {
        Source::Skipped(why) => Some(why.clone()),
        _ => None,
    };
    assert_eq!(skipped("local-dir@file:local-dir"), Some(Skip::Directory));
    assert_eq!(
        skipped("local-tgz@file:local.tgz"),
        Some(Skip::LocalTarball)
    );
    let cloned = lock.packages.iter().find(|p| p.name == "cloned").unwrap();
    assert_eq!(cloned.source, Source::Skipped(Skip::Git));

    // A git host's tarball, without integrity.
    let from_git = lock.packages.iter().find(|p| p.name == "from-git").unwrap();
    assert!(matches!(&from_git.source, Source::Tarball(u) if u.starts_with("https://codeload.")));
    assert_eq!(from_git.integrity, None);

    // Several hashes: the strongest is kept.
    let sharp_like = lock.package("sharp-like@1.0.0").unwrap();
    assert_eq!(
        sharp_like.integrity.as_ref().unwrap().algorithm(),
        Algorithm::Sha384
    );
}

#[test]
fn runtime_variations_pick_this_platform() {
    let lock = fixture("pnpm11-two-documents.yaml");
    let node = lock.package("node@runtime:22.0.0").unwrap();
    let Source::Variations(variants) = &node.source else {
        panic!("{:?}", node.source)
    };
    assert_eq!(variants.len(), 3);
    assert!(
        variants
            .iter()
            .all(|v| v.integrity.as_ref().unwrap().algorithm() == Algorithm::Sha256)
    );
    let pick = |p: &Platforms| {
        p.pick_variant(variants.iter().map(|v| v.targets.as_slice()))
            .map(|i| variants[i].url.rsplit('/').next().unwrap().to_string())
    };
    assert_eq!(
        pick(&linux_x64_glibc()).as_deref(),
        Some("node-v22.0.0-linux-x64.tar.gz")
    );
    let host = Host {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some("musl".into()),
    };
    assert_eq!(
        pick(&Platforms::host(&host)).as_deref(),
        Some("node-v22.0.0-linux-x64-musl.tar.gz")
    );
    let win = Platforms::from_flags(&host, &["win32".into()], &[], &[]);
    assert_eq!(pick(&win), None);
}

#[test]
fn environment_only_lockfile_has_no_packages() {
    let text = "---\nlockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    configDependencies: {}\n\npackages: {}\n\nsnapshots: {}\n";
    let lock = Lockfile::parse(text, "pnpm-lock.yaml", ParseOptions::default()).unwrap();
    assert!(lock.packages.is_empty());
    // A broken second document is reported with its line in the file.
    let text = format!("{text}\n---\nlockfileVersion: '9.0'\npackages:\n  a@1: [unclosed\n");
    let err = Lockfile::parse(&text, "pnpm-lock.yaml", ParseOptions::default()).unwrap_err();
    // (libyaml reports the end of the unclosed list, past line 16.)
    assert!(err.line().is_some_and(|l| l >= 16), "{err}");
}

#[test]
fn pnpm9_libc_variants() {
    let lock = fixture("pnpm9-libc.yaml");
    let host = |libc: &str| Host {
        os: "linux".into(),
        cpu: "x64".into(),
        libc: Some(libc.into()),
    };
    let platform_specific = |p: &Platforms| -> Vec<&str> {
        lock.packages
            .iter()
            .filter(|pkg| !pkg.platform.is_empty() && p.accepts(&pkg.platform))
            .map(|pkg| pkg.key.as_str())
            .collect()
    };
    assert_eq!(
        platform_specific(&Platforms::host(&host("glibc"))),
        [
            "@img/sharp-libvips-linux-x64@1.0.4",
            "@img/sharp-linux-x64@0.33.5"
        ]
    );
    assert_eq!(
        platform_specific(&Platforms::host(&host("musl"))),
        [
            "@img/sharp-libvips-linuxmusl-x64@1.0.4",
            "@img/sharp-linuxmusl-x64@0.33.5"
        ]
    );
    let all = platform_specific(&Platforms::all()).len();
    assert_eq!(all, 19);
    // Everything else (sharp itself, its JS dependencies) is wanted everywhere.
    assert!(lock.packages.iter().all(|p| p.source == Source::Registry));
}

#[test]
fn what_only_other_platforms_need_is_not_needed() {
    let lock = fixture("pnpm9-libc.yaml");
    let platforms = linux_x64_glibc();
    let rejected = |key: &str| {
        lock.package(key)
            .is_some_and(|p| !platforms.accepts(&p.platform))
    };
    let everything = lock.reachable(&|_| false);
    let needed = lock.reachable(&rejected);
    assert_eq!(everything.len(), lock.packages.len());
    // The WebAssembly build's runtime helper hangs off a package of another platform only.
    assert!(everything.contains("@emnapi/runtime@1.11.3"));
    assert!(!needed.contains("@emnapi/runtime@1.11.3"));
    assert!(!needed.contains("tslib@2.9.1"));
    for key in [
        "sharp@0.33.5",
        "detect-libc@2.1.2",
        "@img/sharp-linux-x64@0.33.5",
        "is-odd@3.0.1",
    ] {
        assert!(needed.contains(key), "{key}");
    }
    assert_eq!(needed.len(), lock.packages.len() - 17 - 2);

    // Aliases, peers and file: dependencies resolve to their snapshots.
    let lock = fixture("pnpm11-two-documents.yaml");
    let all = lock.reachable(&|_| false);
    assert!(all.contains("local-dir@file:local-dir"));
    assert!(all.contains("node@runtime:22.0.0"));
    assert!(all.contains("@img/sharp-like-linux-x64@1.0.0"));
    assert!(!all.contains("@img/sharp-like-darwin-arm64@1.0.0"));
}
