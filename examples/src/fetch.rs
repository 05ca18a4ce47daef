//! The `fetch` command: fill the content-addressed cache from a pnpm v9 lockfile.
//!
//! 1. Read the lockfile; resolve the registry (see [`crate::config`]); open the cache.
//! 2. Every package whose integrity is already in the cache counts as `cached`; the others are
//!    **prefetched** on a [`Scheduler`] (smol, [`SmolRuntime`]) at once, like a resolver would.
//! 3. Then the importers' direct dependencies are **demanded**, then the rest: a demand on a queued
//!    prefetch promotes it, so the direct dependencies overtake the speculative queue.
//! 4. Each download streams into a temp file of the cache while hashing; only a verified file is
//!    renamed into place. Transient failures (5xx, reset, truncated body, timeout) are retried by
//!    the scheduler's [`RetryPolicy`]; 404 and integrity mismatches are permanent.
//!
//! The run succeeds ([`Report::ok`]) only if every package ends up in the cache, verified.

mod job;
mod report;

use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fetch_scheduler::{JobContext, RetryPolicy, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use futures_lite::StreamExt as _;
use smol::Executor;

pub use job::{Fetched, JobError, JobErrorKind};
pub use report::{Failure, Report};

use crate::cache::{Cache, CacheError};
use crate::config::{ConfigError, Registry};
use crate::http::{HttpClient, ProxySettings, TlsSettings};
use crate::lockfile::{Lockfile, LockfileError, ParseOptions, Source};
use crate::progress::Progress;
use job::{Jobs, Target, classify};

/// Exit status when some package could not be fetched.
pub const EXIT_FAILED: i32 = 1;
/// Exit status when the run could not start (lockfile, registry, cache, options).
pub const EXIT_SETUP: i32 = 2;

/// Command-line arguments of `lockfetch fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// The pnpm v9 lockfile to read.
    #[arg(long, value_name = "PATH", default_value = "pnpm-lock.yaml")]
    pub lockfile: PathBuf,
    /// Registry base URL (else $npm_config_registry, then the `registry=` line of ./.npmrc, then
    /// of ~/.npmrc).
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Cache directory (default: $XDG_CACHE_HOME/lockfetch or ~/.cache/lockfetch).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Downloads at once (over HTTP/2 they share one connection per registry).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Print one JSON object on stdout (human output stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Accept lockfile entries without `resolution.integrity` (stored unverified, by sha512).
    #[arg(long)]
    pub allow_missing_integrity: bool,
    /// Attempts per package for transient failures (5xx, reset, truncated, timeout).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub attempts: u32,
    /// Delay before the first retry, in milliseconds (doubles per attempt, with jitter).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    pub retry_delay_ms: u64,
    /// Connect timeout, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Idle-read timeout (no byte for this long fails the attempt), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub read_timeout_ms: u64,
    /// Trust the CA certificates of this PEM file too (repeatable). Always trusted: the bundled
    /// roots, the system store, $SSL_CERT_FILE, $SSL_CERT_DIR and $NODE_EXTRA_CA_CERTS.
    #[arg(long = "cafile", value_name = "PATH")]
    pub cafile: Vec<PathBuf>,
    /// Proxy for every URL, `http://[user:password@]host:port` (else $HTTPS_PROXY/$HTTP_PROXY;
    /// $NO_PROXY applies either way).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Use HTTP/1.1 only (HTTP/2 is used when the registry offers it).
    #[arg(long)]
    pub http1: bool,
    /// Do not verify TLS certificates (prints a warning): anyone on the path can pose as the
    /// registry. Prefer --cafile.
    #[arg(long)]
    pub insecure: bool,
    /// Print the tarball URL of every package this platform needs, one per line, and exit.
    #[arg(long)]
    pub list_urls: bool,
}

/// Default of `--concurrency`: the fastest setting measured against a real registry over
/// HTTP/2 on the larger download (see "Real network" in BENCHMARKS.md).
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Everything a fetch run needs; [`FetchArgs`] converts into it.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The lockfile.
    pub lockfile: PathBuf,
    /// `--registry`, if given.
    pub registry: Option<String>,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Downloads at once.
    pub concurrency: usize,
    /// See [`FetchArgs::allow_missing_integrity`].
    pub allow_missing_integrity: bool,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Idle-read timeout.
    pub read_timeout: Duration,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Trust settings of the HTTP client.
    pub tls: TlsSettings,
    /// Proxy settings of the HTTP client.
    pub proxy: ProxySettings,
    /// HTTP/1.1 only.
    pub http1_only: bool,
}

impl FetchOptions {
    /// Defaults ([`DEFAULT_CONCURRENCY`] downloads, 3 attempts, no progress) for `lockfile` into `cache_dir`.
    pub fn new(lockfile: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> Self {
        FetchOptions {
            lockfile: lockfile.into(),
            registry: None,
            cache_dir: cache_dir.into(),
            concurrency: DEFAULT_CONCURRENCY,
            allow_missing_integrity: false,
            retry: RetryPolicy::new(3),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            progress: false,
            tls: TlsSettings::default(),
            proxy: ProxySettings::default(),
            http1_only: false,
        }
    }
}

impl From<&FetchArgs> for FetchOptions {
    fn from(args: &FetchArgs) -> Self {
        FetchOptions {
            lockfile: args.lockfile.clone(),
            registry: args.registry.clone(),
            cache_dir: args.cache_dir.clone().unwrap_or_else(default_cache_dir),
            concurrency: args.concurrency,
            allow_missing_integrity: args.allow_missing_integrity,
            retry: RetryPolicy::new(args.attempts)
                .base_delay(Duration::from_millis(args.retry_delay_ms)),
            connect_timeout: Duration::from_millis(args.connect_timeout_ms),
            read_timeout: Duration::from_millis(args.read_timeout_ms),
            progress: !args.json && std::io::stderr().is_terminal(),
            tls: TlsSettings {
                extra_ca_files: args.cafile.clone(),
                extra_ca_pem: Vec::new(),
                verify: !args.insecure,
            },
            proxy: ProxySettings {
                https_proxy: args.proxy.clone(),
                http_proxy: args.proxy.clone(),
                no_proxy: None,
            },
            http1_only: args.http1,
        }
    }
}

/// `$XDG_CACHE_HOME/lockfetch`, else `$HOME/.cache/lockfetch`, else `./.lockfetch-cache`.
pub fn default_cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("lockfetch");
    }
    if let Some(home) = var("HOME").or_else(|| var("USERPROFILE")) {
        return PathBuf::from(home).join(".cache").join("lockfetch");
    }
    PathBuf::from(".lockfetch-cache")
}

/// Why a fetch run could not start.
#[derive(Debug)]
pub enum FetchError {
    /// The lockfile is unreadable, malformed or unsupported.
    Lockfile(LockfileError),
    /// No usable registry.
    Config(ConfigError),
    /// The cache directory cannot be used.
    Cache(CacheError),
    /// Bad scheduler options (e.g. `--concurrency 0`, `--attempts 0`).
    Options(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Lockfile(e) => e.fmt(f),
            FetchError::Config(e) => e.fmt(f),
            FetchError::Cache(e) => write!(f, "cache directory unusable: {e}"),
            FetchError::Options(e) => write!(f, "invalid options: {e}"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Runs `lockfetch fetch` and returns the process exit status: prints the report (JSON on stdout
/// with `--json`, a summary on stderr) or one error line.
///
/// Exit status: 0 when every package is in the cache, verified; [`EXIT_FAILED`] when some package
/// failed; [`EXIT_SETUP`] when the run could not start (then `--json` prints `{"error": "…"}`).
pub fn main(args: &FetchArgs) -> i32 {
    let options = FetchOptions::from(args);
    if args.list_urls {
        return match plan_urls(&options) {
            Ok(urls) => {
                for url in urls {
                    println!("{url}");
                }
                0
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_SETUP
            }
        };
    }
    match run(&options) {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            }
            eprintln!("{}", report.summary());
            if report.ok() { 0 } else { EXIT_FAILED }
        }
        Err(e) => {
            if args.json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("error: {e}");
            EXIT_SETUP
        }
    }
}

/// The tarball URL of every package of the lockfile that this platform needs and that can be
/// fetched, in lockfile order (`--list-urls`).
pub fn plan_urls(options: &FetchOptions) -> Result<Vec<String>, FetchError> {
    let parse = ParseOptions {
        allow_missing_integrity: options.allow_missing_integrity,
    };
    let lock = Lockfile::read(&options.lockfile, parse).map_err(FetchError::Lockfile)?;
    let registry = if lock.packages.iter().any(|p| p.source == Source::Registry) {
        Some(Registry::resolve(options.registry.as_deref()).map_err(FetchError::Config)?)
    } else {
        None
    };
    Ok(lock
        .packages
        .iter()
        .filter_map(|p| match (&p.source, &registry) {
            (Source::Tarball(url), _) => Some(url.clone()),
            (_, Some(r)) => r.package_url(p),
            _ => None,
        })
        .collect())
}

/// Runs a fetch on a fresh smol executor driven by this thread and `available_parallelism - 1`
/// more (at least one).
pub fn run(options: &FetchOptions) -> Result<Report, FetchError> {
    let executor = Arc::new(Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        - 1;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let executor = executor.clone();
            let stopped = stopped.clone();
            scope.spawn(move || smol::block_on(executor.run(stopped.recv())));
        }
        let result = smol::block_on(executor.run(fetch(options, executor.clone())));
        drop(stop);
        result
    })
}

/// Runs a fetch whose jobs and connections are spawned on `executor`, which the caller drives.
pub async fn fetch(
    options: &FetchOptions,
    executor: Arc<Executor<'static>>,
) -> Result<Report, FetchError> {
    let start = Instant::now();
    let http = HttpClient::builder()
        .connect_timeout(options.connect_timeout)
        .read_timeout(options.read_timeout)
        .max_idle_per_origin(options.concurrency.max(1))
        .tls(options.tls.clone())
        .proxy(options.proxy.clone())
        .http1_only(options.http1_only)
        .executor(executor.clone())
        .build();
    // Open the registry's first connection while the lockfile is read.
    if let Ok(registry) = Registry::resolve(options.registry.as_deref()) {
        http.preconnect(registry.url());
    }
    let parse = ParseOptions {
        allow_missing_integrity: options.allow_missing_integrity,
    };
    let lock = Lockfile::read(&options.lockfile, parse).map_err(FetchError::Lockfile)?;
    let registry = if lock.packages.iter().any(|p| p.source == Source::Registry) {
        Some(Registry::resolve(options.registry.as_deref()).map_err(FetchError::Config)?)
    } else {
        None
    };
    let cache = Cache::open(&options.cache_dir).map_err(FetchError::Cache)?;

    let mut report = Report {
        packages: lock.packages.len(),
        ..Report::default()
    };
    let mut targets = HashMap::new();
    let mut todo = Vec::new();
    for package in &lock.packages {
        let url = match (&package.source, &registry) {
            (Source::Registry, Some(r)) => r.tarball_url(&package.name, &package.version),
            (Source::Tarball(url), _) => url.clone(),
            (source, _) => {
                let error = match source {
                    Source::Unsupported(kind) => format!("`{kind}` resolutions cannot be fetched"),
                    _ => "no registry configured".to_string(),
                };
                report.failed.push(Failure {
                    package: package.key.clone(),
                    error,
                });
                continue;
            }
        };
        if let Some(integrity) = &package.integrity
            && cache.contains(integrity)
        {
            report.cached += 1;
            continue;
        }
        let integrity = package.integrity.clone();
        targets.insert(package.key.clone(), Target { url, integrity });
        todo.push(package.key.clone());
    }

    let downloads = todo
        .iter()
        .map(|k| (k.clone(), AtomicU32::new(0)))
        .collect();
    let jobs = Arc::new(Jobs {
        http,
        cache,
        targets,
        downloads,
    });
    let fetcher = {
        let jobs = jobs.clone();
        move |key: &String, cx: &JobContext| jobs.clone().run(key.clone(), cx.clone())
    };
    let scheduler: Scheduler<String, Fetched, JobError> = Scheduler::builder()
        .concurrency(options.concurrency)
        .retry(options.retry)
        .classify(classify)
        .build(SmolRuntime::new(executor.clone()), fetcher)
        .map_err(|e| FetchError::Options(e.to_string()))?;

    let progress = if options.progress {
        Progress::new(todo.len() as u64)
    } else {
        Progress::hidden()
    };
    let follower = progress
        .is_visible()
        .then(|| executor.spawn(progress.clone().follow(scheduler.events())));

    // The resolver's part: everything not cached is wanted, speculatively.
    for key in &todo {
        scheduler.prefetch(key.clone());
    }
    // The install's part: direct dependencies first, then the rest (promoting queued prefetches).
    let direct: Vec<&str> = lock
        .direct_keys()
        .into_iter()
        .filter(|k| jobs.targets.contains_key(*k))
        .collect();
    let rest = todo.iter().filter(|k| !direct.contains(&k.as_str()));
    let order: Vec<String> = direct
        .iter()
        .map(|k| k.to_string())
        .chain(rest.cloned())
        .collect();
    let mut results = scheduler.get_all(order);
    while let Some((key, result)) = results.next().await {
        match result {
            Ok(fetched) => {
                report.fetched += 1;
                report.bytes += fetched.bytes;
                report.integrity_verified += usize::from(fetched.verified);
            }
            Err(e) => report.failed.push(Failure {
                package: key,
                error: e.to_string(),
            }),
        }
    }
    scheduler.close();
    scheduler.drain().await;
    if let Some(task) = follower {
        task.cancel().await;
    }
    progress.finish();

    report.promotions = scheduler.stats().promoted;
    report.duplicate_fetches = jobs
        .downloads
        .values()
        .map(|n| u64::from(n.load(Ordering::Relaxed).saturating_sub(1)))
        .sum();
    report.failed.sort_by(|a, b| a.package.cmp(&b.package));
    report.wall_ms = start.elapsed().as_millis() as u64;
    Ok(report)
}
