//! One download: GET the tarball, stream it into the cache while hashing, verify, commit.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use fetch_scheduler::{ErrorClass, JobContext};

use crate::cache::{Cache, CacheError};
use crate::http::{HttpClient, HttpError};
use crate::integrity::Integrity;

/// What one package needs to be fetched.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) url: String,
    pub(crate) integrity: Option<Integrity>,
}

/// Shared by every attempt: the HTTP client, the cache, the targets, and per-key counters.
pub(crate) struct Jobs {
    pub(crate) http: HttpClient,
    pub(crate) cache: Cache,
    pub(crate) targets: HashMap<String, Target>,
    /// Completed downloads per key (more than one is a duplicate fetch).
    pub(crate) downloads: HashMap<String, AtomicU32>,
}

/// A finished job: the package is in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes downloaded (0 if another process had stored it meanwhile).
    pub bytes: u64,
    /// Whether the content was hashed against the lockfile's integrity.
    pub verified: bool,
}

/// Why fetching one package failed, with the attempt it failed on.
#[derive(Debug)]
pub struct JobError {
    /// 1-based attempt number of the failure.
    pub attempt: u32,
    /// The cause.
    pub cause: JobErrorKind,
}

/// The cause of a [`JobError`].
#[derive(Debug)]
pub enum JobErrorKind {
    /// Download failed (status, connection, timeout, truncated body…).
    Http(HttpError),
    /// Storing failed, or the content did not match its integrity.
    Cache(CacheError),
    /// The lockfile entry has no key in the fetch plan (a bug if it happens).
    Unknown,
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            JobErrorKind::Http(e) => e.fmt(f)?,
            JobErrorKind::Cache(e) => e.fmt(f)?,
            JobErrorKind::Unknown => f.write_str("not in the fetch plan")?,
        }
        if self.attempt > 1 {
            write!(f, " (after {} attempts)", self.attempt)?;
        }
        Ok(())
    }
}

impl std::error::Error for JobError {}

/// The scheduler's classify function: transient HTTP failures (5xx, 429, reset, truncated,
/// timeout, connect) are retried, after at least the server's `Retry-After` when it sent one;
/// 404 and other 4xx, an unreachable origin (no such host, refused, untrusted certificate),
/// integrity mismatches and local I/O errors are permanent.
pub(crate) fn classify(err: &JobError) -> ErrorClass {
    match &err.cause {
        JobErrorKind::Http(e) if e.is_transient() => match e.retry_after() {
            Some(delay) => ErrorClass::RetryAfter(delay),
            None => ErrorClass::Transient,
        },
        _ => ErrorClass::Permanent,
    }
}

impl Jobs {
    /// One attempt for `key`.
    pub(crate) async fn run(
        self: Arc<Self>,
        key: String,
        cx: JobContext,
    ) -> Result<Fetched, JobError> {
        let attempt = cx.attempt();
        let fail = |cause| JobError { attempt, cause };
        let Some(target) = self.targets.get(&key) else {
            return Err(fail(JobErrorKind::Unknown));
        };
        // Another process may have stored it since the plan was made.
        if let Some(integrity) = &target.integrity
            && self.cache.contains(integrity)
        {
            return Ok(Fetched {
                bytes: 0,
                verified: true,
            });
        }
        let mut resp = self
            .http
            .get(&target.url)
            .await
            .map_err(|e| fail(JobErrorKind::Http(e)))?;
        let total = resp.content_length();
        let mut writer = self
            .cache
            .writer(target.integrity.as_ref())
            .map_err(|e| fail(JobErrorKind::Cache(e)))?;
        cx.progress(0, total);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fail(JobErrorKind::Http(e)))?
        {
            writer
                .write(&chunk)
                .map_err(|e| fail(JobErrorKind::Cache(e)))?;
            cx.progress(writer.bytes(), total);
        }
        // fsync and rename block: off the executor.
        let stored = smol::unblock(move || writer.commit())
            .await
            .map_err(|e| fail(JobErrorKind::Cache(e)))?;
        if let Some(n) = self.downloads.get(&key) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Fetched {
            bytes: stored.bytes,
            verified: target.integrity.is_some(),
        })
    }
}
