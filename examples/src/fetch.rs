//! The `fetch` command: fill the content-addressed cache from a pnpm v9 lockfile.
//!
//! 1. Read the lockfile and npm's configuration (see [`crate::config`]); open the cache.
//! 2. Plan: packages for other platforms (see [`crate::platform`]) and those with nothing to
//!    download (local directories, git repositories) are skipped; those whose file is in the cache
//!    (at the size its name says; re-hashed with `--verify`) count as cached.
//! 3. Every other package is **prefetched** on a [`Scheduler`] (smol, [`SmolRuntime`]) at once, like
//!    a resolver would; then the importers' direct dependencies are **demanded**, then the rest: a
//!    demand on a queued prefetch promotes it, so the direct dependencies overtake the queue.
//! 4. Each download is hashed as it arrives while the cache's writer thread writes it into a file
//!    no reader can see; only a verified file is given its name (see [`crate::cache`]). Transient failures (5xx, reset, truncated body, timeout) are retried by
//!    the scheduler's [`RetryPolicy`](fetch_scheduler::RetryPolicy); 404 and integrity mismatches are permanent.
//! 5. Ctrl-C drops the running downloads (and their temp files), clears the bars and exits with
//!    [`EXIT_INTERRUPTED`]; the cache stays valid and a re-run fetches what is missing.
//!
//! The run succeeds ([`Report::ok`]) only if every needed package ends up in the cache, verified.

mod interrupt;
mod job;
mod options;
mod plan;
mod report;
mod request;
mod setup;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fetch_scheduler::{JobContext, Scheduler};
use fetch_scheduler_smol::SmolRuntime;
use futures_lite::StreamExt as _;
use smol::Executor;

pub use interrupt::Interrupt;
pub use job::{Fetched, JobError, JobErrorKind};
pub use options::{
    DEFAULT_ATTEMPTS, DEFAULT_CONCURRENCY, DEFAULT_RETRY_DELAY, FetchArgs, FetchOptions,
    default_cache_dir,
};
pub use report::{Failure, Report, group_failures};
pub use request::Request;
pub use setup::plan_urls;

use crate::cache::{Cache, CacheError, DiskWriter};
use crate::config::{Auth, Config, ConfigError};
use crate::http::{HttpError, HttpErrorKind};
use crate::lockfile::LockfileError;
use crate::progress::Progress;
use crate::trace::TraceRecorder;
use job::{Jobs, classify};
use plan::{OTHER_PLATFORMS, Plan};
use setup::{
    describe, http_client, load_config, platforms, read_lockfile, retry_policy, terminal_rows,
};

/// Exit status when some package could not be fetched.
pub const EXIT_FAILED: i32 = 1;
/// Exit status when the run could not start (lockfile, registry, cache, options).
pub const EXIT_SETUP: i32 = 2;
/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

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
    // Off the executor, as every file system call of a run.
    let cache = {
        let dir = options.cache_dir.clone();
        smol::unblock(move || Cache::open(dir))
            .await
            .map_err(FetchError::Cache)?
    };
    report_opened(&cache);
    // Started now, the writer threads record a new cache's layout while the plan is made and the
    // first responses are awaited. One per core, at least two: creating a file is CPU work in the
    // file system (on ext4, allocating its inode), and two threads make files side by side.
    let writers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4);
    let disk = DiskWriter::start(&cache, writers).map_err(FetchError::Cache)?;
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
        disk,
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
    // Interrupted or not, what this run published is made durable before it says so.
    if report.fetched > 0 {
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

/// Tells what opening the cache repaired: entries of an earlier layout, and those a crash of the
/// machine cut short.
fn report_opened(cache: &Cache) {
    let opened = cache.opened();
    let upgrade = opened.upgrade;
    if upgrade.migrated + upgrade.removed > 0 {
        eprintln!(
            "cache: {} entries of an earlier layout renamed, {} cut short removed",
            upgrade.migrated, upgrade.removed
        );
    }
    if opened.damaged > 0 {
        eprintln!(
            "warning: cache: {} entries written just before the machine stopped were damaged and removed",
            opened.damaged
        );
    }
}

/// What a failed download says: the error; for a 401 or 403 the config key that would carry the
/// registry's credentials; for an origin that cannot be reached outside the registries (a
/// `node@runtime:` archive, a tarball URL), that origin instead of the registry's settings.
fn failure_message(
    error: &fetch_scheduler::Error<JobError>,
    request: &Request,
    config: &Config,
) -> String {
    let mut message = error.to_string();
    let http = match error {
        fetch_scheduler::Error::Failed(job) => match &job.cause {
            JobErrorKind::Http(h) => Some(h),
            _ => None,
        },
        _ => None,
    };
    if let Some(HttpErrorKind::Unreachable(u)) = http.map(HttpError::kind)
        && u.hint_names_the_registry()
        && !config
            .registry
            .as_ref()
            .is_some_and(|r| r.serves(request.url()))
    {
        let origin = u.origin();
        message = format!(
            "cannot reach {origin}: {}; the lockfile has this package downloaded from {origin}, \
             not from the registry: check that the network and the proxy settings (--proxy, \
             HTTPS_PROXY, NO_PROXY) let this machine reach it",
            u.cause()
        );
    }
    if http.is_some_and(|h| matches!(h.status(), Some(401 | 403))) {
        let key = config.credentials_key(request.url());
        message.push_str(&format!(
            " (the registry wants credentials: set `{key}=…` in .npmrc)"
        ));
    }
    message
}

/// Scrubs credentials out of every message of the report.
fn redact(report: &mut Report, auth: &Auth) {
    for f in &mut report.failed {
        f.error = auth.redact(&f.error);
    }
}
