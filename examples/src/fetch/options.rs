//! What a fetch run is told: the command-line arguments ([`FetchArgs`]), the options they become
//! ([`FetchOptions`], also for embedding), and the defaults used when neither a flag nor npm's
//! config says.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::Env;
use crate::platform::{Host, Platforms};

/// Downloads at once when neither `--concurrency` nor `network-concurrency` says: the fastest of
/// 16, 32, 64 and 128 on the larger download measured against a real registry over HTTP/2, where
/// they all share one connection ("Real network" in BENCHMARKS.md).
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Attempts per package when neither `--attempts` nor `fetch-retries` says.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The first retry's delay when neither `--retry-delay-ms` nor `fetch-retry-mintimeout` says.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Command-line arguments of `lockfetch fetch`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// The pnpm v9 lockfile to read, or the project directory holding its `pnpm-lock.yaml`.
    #[arg(long, value_name = "PATH", default_value = "pnpm-lock.yaml")]
    pub lockfile: PathBuf,
    /// Registry base URL (else npm's config: $npm_config_registry, the project's .npmrc,
    /// ~/.npmrc, then $PREFIX/etc/npmrc; with none of them, npm's default as `npm config get
    /// registry` prints it).
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
    /// Write the downloads as Chrome trace-event JSON into this file (Perfetto, or DevTools' Performance panel).
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
            lockfile: lockfile_path(&args.lockfile),
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

/// `--lockfile` names the lockfile itself or, as pnpm users point at a project, its directory.
fn lockfile_path(arg: &Path) -> PathBuf {
    if arg.is_dir() {
        arg.join("pnpm-lock.yaml")
    } else {
        arg.to_path_buf()
    }
}
