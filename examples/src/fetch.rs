//! The `fetch` command: fill the content-addressed cache from a pnpm v9 lockfile.
//!
//! 1. Read the lockfile and npm's configuration (see [`crate::config`]); open the cache.
//! 2. Plan: packages for other platforms (see [`crate::platform`]) and those with nothing to
//!    download (local directories, git repositories) are skipped; those whose file is in the cache
//!    (at the size its name says; re-hashed with `--verify`) count as cached.
//! 3. Every other package is **prefetched** on a [`Scheduler`] (smol, [`SmolRuntime`]) at once, like
//!    a resolver would; then the importers' direct dependencies are **demanded**, then the rest: a
//!    demand on a queued prefetch promotes it, so the direct dependencies overtake the queue.
//! 4. Each download streams into a temp file of the cache while hashing; only a verified file is
//!    renamed into place. Transient failures (5xx, reset, truncated body, timeout) are retried by
//!    the scheduler's [`RetryPolicy`]; 404 and integrity mismatches are permanent.
//! 5. Ctrl-C drops the running downloads (and their temp files), clears the bars and exits with
//!    [`EXIT_INTERRUPTED`]; the cache stays valid and a re-run fetches what is missing.
//!
//! The run succeeds ([`Report::ok`]) only if every needed package ends up in the cache, verified.

mod interrupt;
mod job;
mod plan;
mod report;
mod request;

use std::fmt;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fetch_scheduler::{JobContext, RetryPolicy, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use futures_lite::StreamExt as _;
use smol::Executor;

pub use interrupt::Interrupt;
pub use job::{Fetched, JobError, JobErrorKind};
pub use report::{Failure, Report, group_failures};
pub use request::Request;

use crate::cache::{Cache, CacheError};
use crate::config::Network;
use crate::config::{Auth, Config, ConfigError, Env, Sources};
use crate::http::{HttpClient, ProxySettings, TlsSettings};
use crate::lockfile::{Lockfile, LockfileError, ParseOptions};
use crate::platform::{Host, Platforms};
use crate::progress::Progress;
use crate::trace::TraceRecorder;
use job::{Jobs, classify};
use plan::{OTHER_PLATFORMS, Plan};

/// Exit status when some package could not be fetched.
pub const EXIT_FAILED: i32 = 1;
/// Exit status when the run could not start (lockfile, registry, cache, options).
pub const EXIT_SETUP: i32 = 2;
/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;
/// Downloads at once when neither `--concurrency` nor `network-concurrency` says: the fastest
/// setting measured against a real registry (more was never slower there; see BENCHMARKS.md).
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Attempts per package when neither `--attempts` nor `fetch-retries` says.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The first retry's delay when neither `--retry-delay-ms` nor `fetch-retry-mintimeout` says.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Command-line arguments of `lockfetch fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// The pnpm v9 lockfile to read.
    #[arg(long, value_name = "PATH", default_value = "pnpm-lock.yaml")]
    pub lockfile: PathBuf,
    /// Registry base URL (else npm's config: $npm_config_registry, the project's .npmrc,
    /// ~/.npmrc, then $PREFIX/etc/npmrc).
    #[arg(long, value_name = "URL")]
    pub registry: Option<String>,
    /// Cache directory (default: $XDG_CACHE_HOME/lockfetch or ~/.cache/lockfetch).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Downloads at once (default: npm's `network-concurrency`, else 64). Over HTTP/2 they share
    /// a connection per registry.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Print one JSON object on stdout (human output stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Also print where each setting comes from and the scheduler's counters (promotions, joins).
    #[arg(long)]
    pub verbose: bool,
    /// Re-hash every cached file; fetch damaged ones again.
    #[arg(long)]
    pub verify: bool,
    /// Fetch packages for this operating system (repeatable; `current` is this machine's).
    /// Without `--os`, `--cpu` or `--libc`: the project's `supportedArchitectures`, else this
    /// machine.
    #[arg(long, value_name = "OS")]
    pub os: Vec<String>,
    /// Fetch packages for this CPU (repeatable; `current` is this machine's).
    #[arg(long, value_name = "CPU")]
    pub cpu: Vec<String>,
    /// Fetch packages for this C library, `glibc` or `musl` (repeatable).
    #[arg(long, value_name = "LIBC")]
    pub libc: Vec<String>,
    /// Fetch the packages of every platform.
    #[arg(long, conflicts_with_all = ["os", "cpu", "libc"])]
    pub all_platforms: bool,
    /// Accept lockfile entries without `resolution.integrity` (stored unverified, by sha512).
    #[arg(long)]
    pub allow_missing_integrity: bool,
    /// Attempts per package for transient failures (default: npm's `fetch-retries` + 1, else 3).
    #[arg(long, value_name = "N")]
    pub attempts: Option<u32>,
    /// Delay before the first retry, in milliseconds, doubling per attempt with jitter
    /// (default: npm's `fetch-retry-mintimeout`, else 200).
    #[arg(long, value_name = "MS")]
    pub retry_delay_ms: Option<u64>,
    /// Connect timeout, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub connect_timeout_ms: u64,
    /// Idle-read timeout (no byte for this long fails the attempt), in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub read_timeout_ms: u64,
    /// Trust the CA certificates of this PEM file too (repeatable; npm's `cafile` adds to it).
    /// Always trusted: the bundled roots, the system store, $SSL_CERT_FILE, $SSL_CERT_DIR and
    /// $NODE_EXTRA_CA_CERTS.
    #[arg(long = "cafile", value_name = "PATH")]
    pub cafile: Vec<PathBuf>,
    /// Proxy for every URL, `http://[user:password@]host:port` (else npm's `https-proxy` /
    /// `proxy`, else $HTTPS_PROXY / $HTTP_PROXY; npm's `noproxy` or $NO_PROXY applies either way).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Use HTTP/1.1 only (HTTP/2 is used when the registry offers it).
    #[arg(long)]
    pub http1: bool,
    /// Do not verify TLS certificates (prints a warning; npm's `strict-ssl=false` does the same):
    /// anyone on the path can pose as the registry. Prefer --cafile.
    #[arg(long)]
    pub insecure: bool,
    /// Print the tarball URL of every package this platform needs, one per line, and exit.
    #[arg(long)]
    pub list_urls: bool,
    /// Write the downloads as Chrome trace-event JSON into this file (Perfetto, chrome://tracing).
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
}

/// Everything a fetch run needs; [`FetchArgs`] converts into it.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The lockfile.
    pub lockfile: PathBuf,
    /// `--registry`, if given.
    pub registry: Option<String>,
    /// The environment npm's config is read from.
    pub env: Env,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// Downloads at once (`None`: npm's config, else [`DEFAULT_CONCURRENCY`]).
    pub concurrency: Option<usize>,
    /// The platforms whose packages are fetched (`None`: the project's `supportedArchitectures`,
    /// else this machine).
    pub platforms: Option<Platforms>,
    /// Re-hash every cached file.
    pub verify: bool,
    /// See [`FetchArgs::allow_missing_integrity`].
    pub allow_missing_integrity: bool,
    /// Attempts per package (`None`: npm's config, else [`DEFAULT_ATTEMPTS`]).
    pub attempts: Option<u32>,
    /// The first retry's delay (`None`: npm's config, else [`DEFAULT_RETRY_DELAY`]).
    pub retry_delay: Option<Duration>,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Idle-read timeout.
    pub read_timeout: Duration,
    /// Draw progress bars on stderr.
    pub progress: bool,
    /// Stop on SIGINT / SIGTERM with a clean cache (the CLI does; an embedder may not want it).
    pub handle_signals: bool,
    /// Print where each setting comes from.
    pub verbose: bool,
    /// `--cafile`: CA bundles trusted besides npm's `cafile` and the usual roots.
    pub cafiles: Vec<PathBuf>,
    /// `--proxy`: overrides npm's `https-proxy` and `proxy`.
    pub proxy: Option<String>,
    /// `--insecure`: no certificate verification.
    pub insecure: bool,
    /// `--http1`: HTTP/1.1 only.
    pub http1_only: bool,
    /// Write the downloads as a trace here (see [`crate::trace`]).
    pub trace: Option<PathBuf>,
}

impl FetchOptions {
    /// Defaults (this machine's packages, no progress, an empty environment) for `lockfile` into
    /// `cache_dir`.
    pub fn new(lockfile: impl Into<PathBuf>, cache_dir: impl Into<PathBuf>) -> Self {
        FetchOptions {
            lockfile: lockfile.into(),
            registry: None,
            env: Env::default(),
            cache_dir: cache_dir.into(),
            concurrency: None,
            platforms: None,
            verify: false,
            allow_missing_integrity: false,
            attempts: None,
            retry_delay: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            progress: false,
            handle_signals: false,
            verbose: false,
            cafiles: Vec::new(),
            proxy: None,
            insecure: false,
            http1_only: false,
            trace: None,
        }
    }
}

impl From<&FetchArgs> for FetchOptions {
    fn from(args: &FetchArgs) -> Self {
        let env = Env::from_process();
        let platforms = if args.all_platforms {
            Some(Platforms::all())
        } else if args.os.is_empty() && args.cpu.is_empty() && args.libc.is_empty() {
            None
        } else {
            Some(Platforms::from_flags(
                &Host::current(),
                &args.os,
                &args.cpu,
                &args.libc,
            ))
        };
        FetchOptions {
            lockfile: args.lockfile.clone(),
            registry: args.registry.clone(),
            cache_dir: args
                .cache_dir
                .clone()
                .unwrap_or_else(|| default_cache_dir(&env)),
            env,
            concurrency: args.concurrency,
            platforms,
            verify: args.verify,
            allow_missing_integrity: args.allow_missing_integrity,
            attempts: args.attempts,
            retry_delay: args.retry_delay_ms.map(Duration::from_millis),
            connect_timeout: Duration::from_millis(args.connect_timeout_ms),
            read_timeout: Duration::from_millis(args.read_timeout_ms),
            progress: !args.json && std::io::stderr().is_terminal(),
            handle_signals: true,
            verbose: args.verbose,
            cafiles: args.cafile.clone(),
            proxy: args.proxy.clone(),
            insecure: args.insecure,
            http1_only: args.http1,
            trace: args.trace.clone(),
        }
    }
}

/// `$XDG_CACHE_HOME/lockfetch`, else `$HOME/.cache/lockfetch`, else `./.lockfetch-cache`.
pub fn default_cache_dir(env: &Env) -> PathBuf {
    if let Some(xdg) = env.non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("lockfetch");
    }
    if let Some(home) = env
        .non_empty("HOME")
        .or_else(|| env.non_empty("USERPROFILE"))
    {
        return PathBuf::from(home).join(".cache").join("lockfetch");
    }
    PathBuf::from(".lockfetch-cache")
}

/// Why a fetch run could not start.
#[derive(Debug)]
pub enum FetchError {
    /// The lockfile is unreadable, malformed or unsupported.
    Lockfile(LockfileError),
    /// npm's configuration is unusable, or no registry is configured.
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
/// Exit status: 0 when every needed package is in the cache, verified; [`EXIT_FAILED`] when some
/// package failed; [`EXIT_SETUP`] when the run could not start (then `--json` prints
/// `{"error": "…"}`); [`EXIT_INTERRUPTED`] after Ctrl-C.
pub fn main(args: &FetchArgs) -> i32 {
    let options = FetchOptions::from(args);
    if args.list_urls {
        return match smol::block_on(plan_urls(&options)) {
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
            if report.interrupted {
                eprintln!("{}", report.interrupted_line());
                return EXIT_INTERRUPTED;
            }
            eprintln!("{}", report.summary(args.verbose));
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
    let interrupt = Interrupt::new();
    let _signals = options
        .handle_signals
        .then(|| interrupt.on_signals(&executor))
        .flatten();
    let config = load_config(options)?;
    let concurrency = options
        .concurrency
        .or(config.fetch.network_concurrency)
        .unwrap_or(DEFAULT_CONCURRENCY);
    let http = http_client(options, &config, concurrency, &executor);
    // Open the registry's first connection while the lockfile is read.
    if let Some(registry) = &config.registry {
        http.preconnect(registry.url());
    }
    let lock = read_lockfile(options)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    if options.verbose {
        for line in config.describe() {
            eprintln!("config: {line}");
        }
    }
    let platforms = platforms(options)?;
    let cache = Cache::open(&options.cache_dir).map_err(FetchError::Cache)?;
    let planning =
        async { Some(Plan::make(&lock, &config, &platforms, Some(&cache), options.verify).await) };
    let stop = async {
        interrupt.wait().await;
        None
    };
    // Re-hashing a large cache (`--verify`) takes a while: Ctrl-C stops it too.
    let Some(plan) = futures_lite::future::or(planning, stop).await else {
        return Ok(Report {
            packages: lock.packages.len(),
            interrupted: true,
            wall_ms: start.elapsed().as_millis() as u64,
            ..Report::default()
        });
    };
    let plan = plan.map_err(FetchError::Config)?;

    let retry = retry_policy(options, &config);
    let mut report = Report {
        packages: plan.packages,
        cached: plan.cached,
        skipped: plan.skipped_total(),
        skipped_by_reason: plan.skipped.clone(),
        repaired: plan.repaired,
        failed: plan.failed.clone(),
        ..Report::default()
    };
    if let Some(n) = report.skipped_by_reason.get(OTHER_PLATFORMS).copied() {
        report.skipped_by_reason.remove(OTHER_PLATFORMS);
        let wanted = describe(&platforms);
        report
            .skipped_by_reason
            .insert(format!("for other platforms than {wanted}"), n);
    }

    let jobs = Arc::new(Jobs {
        http,
        cache: cache.clone(),
        interrupt: interrupt.clone(),
        seen: Default::default(),
        duplicates: Default::default(),
    });
    let fetcher = {
        let jobs = jobs.clone();
        move |request: &Request, cx: JobContext| jobs.clone().run(request.clone(), cx)
    };
    let scheduler: Scheduler<Request, Fetched, JobError> = Scheduler::builder()
        .concurrency(concurrency)
        .retry(retry)
        .classify(classify)
        .build(SmolRuntime::new(&executor), fetcher)
        .map_err(|e| FetchError::Options(e.to_string()))?;
    if let Some(path) = &options.trace {
        crate::output::check_writable(path, "--trace").map_err(FetchError::Options)?;
    }
    let trace = options
        .trace
        .as_ref()
        .map(|_| TraceRecorder::start(&scheduler));

    let progress = if options.progress && !plan.requests.is_empty() {
        let rows = terminal_rows().saturating_sub(2).clamp(1, 16);
        Progress::new(plan.requests.len() as u64, rows)
    } else {
        Progress::hidden()
    };
    let follower = progress.is_visible().then(|| {
        (
            executor.spawn(progress.clone().follow(scheduler.events())),
            executor.spawn(progress.clone().run_ticker()),
        )
    });

    // The resolver's part: everything not cached is wanted, speculatively.
    for request in &plan.requests {
        scheduler.prefetch(request.clone());
    }
    // The install's part: direct dependencies first (they lead the plan), then the rest,
    // promoting queued prefetches.
    let mut results = scheduler.get_all(plan.requests.iter().cloned());
    loop {
        let next = async { Some(results.next().await) };
        let stop = async {
            interrupt.wait().await;
            None
        };
        let next = futures_lite::future::or(next, stop).await;
        if interrupt.is_set() {
            // Downloads that ended because of the interrupt are neither fetched nor failed.
            report.interrupted = true;
            break;
        }
        match next {
            Some(Some((request, Ok(fetched)))) => {
                report.fetched += plan.members.get(request.url()).copied().unwrap_or(1);
                report.bytes += fetched.bytes;
                report.integrity_verified += usize::from(fetched.verified);
            }
            Some(Some((request, Err(e)))) => report.failed.push(Failure {
                package: request.package().to_string(),
                error: failure_message(&e, &request, &config),
            }),
            Some(None) | None => break,
        }
    }
    drop(results);
    scheduler.close();
    if report.interrupted {
        // Running downloads end at once (they watch the same flag); don't wait on a stuck one.
        let drained = async {
            scheduler.drain().await;
        };
        let limit = async {
            smol::Timer::after(Duration::from_millis(500)).await;
        };
        futures_lite::future::or(drained, limit).await;
    } else {
        scheduler.drain().await;
    }
    if let (Some(recorder), Some(path)) = (trace, &options.trace)
        && let Err(e) = recorder
            .finish(|r: &Request| r.package().to_string())
            .write(path)
    {
        eprintln!("error: {e}");
    }
    if let Some((events, ticker)) = follower {
        events.cancel().await;
        ticker.cancel().await;
    }
    progress.finish();
    if !report.interrupted && report.fetched > 0 {
        let cache = cache.clone();
        if let Err(e) = smol::unblock(move || cache.sync()).await {
            eprintln!("warning: {e}");
        }
    }

    let stats = scheduler.stats();
    report.promotions = stats.promoted;
    report.joins = stats.joined;
    report.duplicate_fetches = jobs.duplicates.load(Ordering::Relaxed);
    report.failed.sort_by(|a, b| a.package.cmp(&b.package));
    redact(&mut report, &config.auth);
    report.wall_ms = start.elapsed().as_millis() as u64;
    Ok(report)
}

/// npm's configuration as `options` (flags, environment, the lockfile's project) give it.
fn load_config(options: &FetchOptions) -> Result<Config, FetchError> {
    Config::load(&Sources {
        registry_flag: options.registry.clone(),
        env: options.env.clone(),
        project_dir: project_dir(&options.lockfile),
    })
    .map_err(FetchError::Config)
}

fn read_lockfile(options: &FetchOptions) -> Result<Lockfile, FetchError> {
    let parse = ParseOptions {
        allow_missing_integrity: options.allow_missing_integrity,
    };
    Lockfile::read(&options.lockfile, parse).map_err(FetchError::Lockfile)
}

/// The platforms whose packages are wanted: the flags, else the project's
/// `supportedArchitectures`, else this machine.
fn platforms(options: &FetchOptions) -> Result<Platforms, FetchError> {
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
fn http_client(
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

/// What a failed download says: the error, and for a 401 or 403 the config key that would carry
/// the registry's credentials.
fn failure_message(
    error: &fetch_scheduler::Error<JobError>,
    request: &Request,
    config: &Config,
) -> String {
    let mut message = error.to_string();
    let refused = match error {
        fetch_scheduler::Error::Failed(job) => {
            matches!(&job.cause, JobErrorKind::Http(h) if matches!(h.status(), Some(401 | 403)))
        }
        _ => false,
    };
    if refused {
        let key = config.credentials_key(request.url());
        message.push_str(&format!(
            " (the registry wants credentials: set `{key}=…` in .npmrc)"
        ));
    }
    message
}

/// The attempts and delays: flags, else npm's `fetch-retries` / `fetch-retry-mintimeout` /
/// `fetch-retry-maxtimeout`, else the defaults.
fn retry_policy(options: &FetchOptions, config: &Config) -> RetryPolicy {
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

/// Scrubs credentials out of every message of the report.
fn redact(report: &mut Report, auth: &Auth) {
    for f in &mut report.failed {
        f.error = auth.redact(&f.error);
    }
}

/// The directory whose `.npmrc` is the project's: the lockfile's.
fn project_dir(lockfile: &Path) -> PathBuf {
    match lockfile.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `linux-x64-glibc`, `linux|darwin-x64`, or `any platform`.
fn describe(platforms: &Platforms) -> String {
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
fn terminal_rows() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(24, |(rows, _)| usize::from(rows))
}
