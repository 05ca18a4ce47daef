//! One download: GET the tarball, hash it as it arrives while a writer thread of the cache writes
//! it, verify, publish.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fetch_scheduler::{ErrorClass, JobContext};

use super::Interrupt;
use super::Request;
use crate::cache::{CacheError, DiskWriter};
use crate::http::{HttpClient, HttpError};

/// Shared by every attempt: the HTTP client, the cache, counters.
pub(crate) struct Jobs {
    pub(crate) http: HttpClient,
    /// Creates and writes the cache's files off the executor.
    pub(crate) disk: DiskWriter,
    pub(crate) interrupt: Interrupt,
    /// URLs downloaded by this run, and downloads of a URL already downloaded once.
    pub(crate) seen: std::sync::Mutex<std::collections::HashSet<String>>,
    pub(crate) duplicates: AtomicU64,
}

/// A finished job: the package is in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// Bytes downloaded.
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
    /// The run was interrupted while this download ran; its partial file is gone.
    Interrupted,
}

impl JobError {
    /// The cause without the attempt count: the text failures are grouped by.
    pub fn cause_text(&self) -> String {
        match &self.cause {
            JobErrorKind::Http(e) => e.to_string(),
            JobErrorKind::Cache(e) => e.to_string(),
            JobErrorKind::Interrupted => "interrupted".to_string(),
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause_text())?;
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
    /// One attempt for `request`; ends early with [`JobErrorKind::Interrupted`] (dropping the
    /// partial file) when the run is interrupted.
    pub(crate) async fn run(
        self: Arc<Self>,
        request: Request,
        cx: JobContext,
    ) -> Result<Fetched, JobError> {
        let attempt = cx.attempt();
        let interrupted = async {
            self.interrupt.wait().await;
            Err(JobError {
                attempt,
                cause: JobErrorKind::Interrupted,
            })
        };
        futures_lite::future::or(self.download(&request, &cx), interrupted).await
    }

    async fn download(&self, request: &Request, cx: &JobContext) -> Result<Fetched, JobError> {
        let attempt = cx.attempt();
        let fail = |cause| JobError { attempt, cause };
        // No second look-up in the cache: another process that stored the same tarball since
        // the plan was made costs one download, and publishing over its entry keeps it.
        let mut resp = self
            .http
            .get(request.url())
            .await
            .map_err(|e| fail(JobErrorKind::Http(e)))?;
        let total = resp.content_length().or(request.size());
        let mut writer = self.disk.entry(request.integrity());
        cx.progress(0, total);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| fail(JobErrorKind::Http(e)))?
        {
            writer
                .write(chunk)
                .await
                .map_err(|e| fail(JobErrorKind::Cache(e)))?;
            cx.progress(writer.bytes(), total);
        }
        let stored = writer
            .commit()
            .await
            .map_err(|e| fail(JobErrorKind::Cache(e)))?;
        let first = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request.url().to_string());
        if !first {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Fetched {
            bytes: stored.bytes,
            verified: request.integrity().is_some(),
        })
    }
}
