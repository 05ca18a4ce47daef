//! Faults the mock registry injects on demand.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A fault to inject into the response for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status code (e.g. 404, 500, 503) and a short text body; the connection
    /// stays usable.
    Status(u16),
    /// Answer with this status (e.g. 429, 503) and a `Retry-After: seconds` header.
    RetryAfter {
        /// The status code.
        status: u16,
        /// The `Retry-After` value, in seconds.
        seconds: u64,
    },
    /// Wait this long (on top of the latency) before the response head.
    Delay(Duration),
    /// Send the head (full `Content-Length`) and `after` body bytes, then reset the connection
    /// (TCP RST).
    Reset {
        /// Body bytes sent before the reset.
        after: usize,
    },
    /// Send the head (full `Content-Length`) and `after` body bytes, then close the connection
    /// cleanly (FIN): a truncated body.
    Truncate {
        /// Body bytes sent before the close.
        after: usize,
    },
    /// Send a body of the right length with some bytes flipped (fails an integrity check).
    Corrupt,
    /// Send the head and `after` body bytes, then stall: for `duration`, then finish normally, or
    /// forever (until the client goes away or the registry shuts down) when `None`.
    Stall {
        /// Body bytes sent before the stall.
        after: usize,
        /// How long to stall; `None` is forever.
        duration: Option<Duration>,
    },
}

/// The path that matches every request in [`crate::registry::MockRegistry::inject`].
pub const ANY_PATH: &str = "*";

#[derive(Debug, Clone, Copy)]
struct Armed {
    fault: Fault,
    /// Remaining requests to hit; `None` is every request until cleared.
    remaining: Option<u32>,
}

/// Armed faults by path.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    armed: Mutex<HashMap<String, Armed>>,
}

impl Faults {
    pub(crate) fn arm(&self, path: &str, fault: Fault, times: Option<u32>) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if times == Some(0) {
            armed.remove(path);
        } else {
            armed.insert(
                path.to_owned(),
                Armed {
                    fault,
                    remaining: times,
                },
            );
        }
    }

    pub(crate) fn clear(&self, path: Option<&str>) {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        match path {
            Some(path) => {
                armed.remove(path);
            }
            None => armed.clear(),
        }
    }

    /// The fault for this request of `path`, if any (a path's own fault before [`ANY_PATH`]'s).
    pub(crate) fn take(&self, path: &str) -> Option<Fault> {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        if armed.is_empty() {
            return None;
        }
        let key = if armed.contains_key(path) {
            path
        } else if armed.contains_key(ANY_PATH) {
            ANY_PATH
        } else {
            return None;
        };
        let entry = armed.get_mut(key)?;
        let fault = entry.fault;
        if let Some(n) = &mut entry.remaining {
            *n -= 1;
            if *n == 0 {
                armed.remove(key);
            }
        }
        Some(fault)
    }
}
