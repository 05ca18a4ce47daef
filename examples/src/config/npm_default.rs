//! npm's own default registry, for a project that configures none: what `npm config get
//! registry` prints, as npm and pnpm themselves fall back to it. No registry is written in this
//! crate: without npm on `PATH` and without configuration, there is none.

use std::path::Path;
use std::process::{Command, Stdio};

use super::Env;

/// Where the default came from, as settings' origins are shown.
pub(super) const ORIGIN: &str = "npm's default (`npm config get registry`)";

/// What asking npm gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NpmDefault {
    /// The registry URL npm prints.
    Url(String),
    /// Why there is none: npm is not on `PATH`, failed, or printed nothing usable.
    Unavailable(String),
}

/// Runs `npm config get registry` in `dir` with exactly the environment `env` (whose `PATH`
/// finds npm).
pub(super) fn ask_npm(env: &Env, dir: &Path) -> NpmDefault {
    let Some(npm) = env.which("npm") else {
        return NpmDefault::Unavailable("npm is not on PATH".into());
    };
    let output = Command::new(&npm)
        .args(["config", "get", "registry"])
        .env_clear()
        .envs(env.vars())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output();
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return NpmDefault::Unavailable(format!("cannot run {}: {e}", npm.display()));
        }
    };
    let url = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        let first = err.lines().next().unwrap_or_default().trim();
        return NpmDefault::Unavailable(format!(
            "`npm config get registry` failed ({}){}",
            output.status,
            if first.is_empty() {
                String::new()
            } else {
                format!(": {first}")
            }
        ));
    }
    if url.is_empty() || url == "undefined" {
        return NpmDefault::Unavailable("`npm config get registry` printed no registry".into());
    }
    NpmDefault::Url(url)
}
