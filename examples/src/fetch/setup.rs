//! Setting a run up: npm's config, the lockfile, the wanted platforms, the HTTP client and the
//! retry policy, each from the flags over npm's config over the defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fetch_scheduler::RetryPolicy;
use smol::Executor;

use super::plan::Plan;
use super::{DEFAULT_ATTEMPTS, DEFAULT_RETRY_DELAY, FetchError, FetchOptions};
use crate::config::{Config, Network, Sources};
use crate::http::{HttpClient, ProxySettings, TlsSettings};
use crate::lockfile::{Lockfile, ParseOptions};
use crate::platform::{Host, Platforms};

/// npm's configuration as `options` (flags, environment, the lockfile's project) give it.
pub(super) fn load_config(options: &FetchOptions) -> Result<Config, FetchError> {
    Config::load(&Sources {
        registry_flag: options.registry.clone(),
        env: options.env.clone(),
        project_dir: project_dir(&options.lockfile),
    })
    .map_err(FetchError::Config)
}

pub(super) fn read_lockfile(options: &FetchOptions) -> Result<Lockfile, FetchError> {
    let parse = ParseOptions {
        allow_missing_integrity: options.allow_missing_integrity,
    };
    Lockfile::read(&options.lockfile, parse).map_err(FetchError::Lockfile)
}

/// The platforms whose packages are wanted: the flags, else the project's
/// `supportedArchitectures`, else this machine.
pub(super) fn platforms(options: &FetchOptions) -> Result<Platforms, FetchError> {
    match &options.platforms {
        Some(p) => Ok(p.clone()),
        None => {
            let host = Host::current();
            Ok(
                Platforms::from_project(&host, &project_dir(&options.lockfile))
                    .map_err(FetchError::Options)?
                    .unwrap_or_else(|| Platforms::host(&host)),
            )
        }
    }
}

/// The tarball URL of every package of the lockfile that the wanted platforms need, in the
/// order a fetch would demand them, whether cached or not (`--list-urls`).
pub async fn plan_urls(options: &FetchOptions) -> Result<Vec<String>, FetchError> {
    let config = load_config(options)?;
    let lock = read_lockfile(options)?;
    let plan = Plan::make(&lock, &config, &platforms(options)?, None, false)
        .await
        .map_err(FetchError::Config)?;
    Ok(plan.requests.iter().map(|r| r.url().to_string()).collect())
}

/// The HTTP client of a run: trust, proxies and credentials from the flags over npm's config
/// (whose `None`s fall back to the environment inside the client).
pub(super) fn http_client(
    options: &FetchOptions,
    config: &Config,
    concurrency: usize,
    executor: &Arc<Executor<'static>>,
) -> HttpClient {
    let Network {
        cafiles,
        ca,
        strict_ssl,
        https_proxy,
        proxy,
        noproxy,
    } = config.network.clone();
    let tls = TlsSettings {
        extra_ca_files: options.cafiles.iter().cloned().chain(cafiles).collect(),
        extra_ca_pem: ca,
        verify: strict_ssl && !options.insecure,
    };
    let proxy = ProxySettings {
        https_proxy: options.proxy.clone().or(https_proxy),
        http_proxy: options.proxy.clone().or(proxy),
        no_proxy: noproxy,
    };
    let env = options.env.clone();
    HttpClient::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .max_idle_per_origin(concurrency.max(1))
        .tls(tls)
        .proxy(proxy)
        .http1_only(options.http1_only)
        .credentials(Arc::new(config.auth.clone()))
        .env(Arc::new(move |name| env.non_empty(name).map(String::from)))
        .executor(executor.clone())
        .build()
}

/// The attempts and delays: flags, else npm's `fetch-retries` / `fetch-retry-mintimeout` /
/// `fetch-retry-maxtimeout`, else the defaults.
pub(super) fn retry_policy(options: &FetchOptions, config: &Config) -> RetryPolicy {
    let attempts = options
        .attempts
        .or(config.fetch.fetch_retries.map(|r| r.saturating_add(1)))
        .unwrap_or(DEFAULT_ATTEMPTS);
    let delay = options
        .retry_delay
        .or(config.fetch.fetch_retry_mintimeout)
        .unwrap_or(DEFAULT_RETRY_DELAY);
    let mut policy = RetryPolicy::new(attempts).base_delay(delay);
    if let Some(max) = config.fetch.fetch_retry_maxtimeout {
        policy = policy.max_delay(max.max(delay));
    }
    policy
}

/// The directory whose `.npmrc` is the project's: the lockfile's.
pub(super) fn project_dir(lockfile: &Path) -> PathBuf {
    match lockfile.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `linux-x64-glibc`, `linux|darwin-x64`, or `any platform`.
pub(super) fn describe(platforms: &Platforms) -> String {
    // A C library only means something on Linux.
    let linux = platforms.os.is_empty() || platforms.os.iter().any(|o| o == "linux");
    let libc = if linux { &platforms.libc[..] } else { &[] };
    let parts: Vec<String> = [&platforms.os[..], &platforms.cpu[..], libc]
        .into_iter()
        .filter(|l| !l.is_empty())
        .map(|l| l.join("|"))
        .collect();
    if parts.is_empty() {
        "any platform".into()
    } else {
        parts.join("-")
    }
}

/// The terminal's height (stderr's), or 24.
pub(super) fn terminal_rows() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(24, |(rows, _)| usize::from(rows))
}
