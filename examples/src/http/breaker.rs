//! The per-origin breaker: failures every request to an origin would share (no such host,
//! connections refused, an untrusted certificate) stop further attempts at once, all with one
//! error text.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use super::error::HttpErrorKind;

/// Failed connection attempts in a row, with nothing connecting in between, after which refused
/// or timed-out connections make the origin unreachable.
pub(crate) const STRIKES: u32 = 3;

/// Why an origin cannot be reached, with what the user can do about it.
///
/// Displayed the same for every request to the origin, e.g. `cannot reach https://host:443:
/// TLS certificate not trusted (invalid peer certificate: UnknownIssuer); if a proxy …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    origin: String,
    cause: String,
    hint: &'static str,
}

impl Unreachable {
    /// `scheme://host:port` of the origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What failed.
    pub fn cause(&self) -> &str {
        &self.cause
    }

    /// What to check or set.
    pub fn hint(&self) -> &str {
        self.hint
    }

    /// Whether the hint sends the user to the registry's settings: the origin's name or port
    /// failed, which for a download from elsewhere is that host's matter, not the registry's.
    pub fn hint_names_the_registry(&self) -> bool {
        self.hint == super::connect::NETWORK_HINT
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reach {}: {}; {}",
            self.origin, self.cause, self.hint
        )
    }
}

/// How a failed connection attempt counts against its origin.
#[derive(Debug)]
pub(crate) enum Strike {
    /// Not about the origin as a whole (a reset, a passing look-up failure…).
    No,
    /// Counts towards [`STRIKES`] (refused, unreachable network, connect timeout).
    Counted { cause: String, hint: &'static str },
    /// Makes the origin unreachable at once (no such host, untrusted certificate…).
    Fatal { cause: String, hint: &'static str },
}

/// A failed connection attempt.
#[derive(Debug)]
pub(crate) struct ConnectFailure {
    pub(crate) kind: HttpErrorKind,
    pub(crate) strike: Strike,
}

impl From<HttpErrorKind> for ConnectFailure {
    fn from(kind: HttpErrorKind) -> Self {
        ConnectFailure {
            kind,
            strike: Strike::No,
        }
    }
}

/// One origin's breaker. Once tripped it stays tripped for the client's life.
#[derive(Debug, Default)]
pub(crate) struct Breaker {
    tripped: OnceLock<Arc<Unreachable>>,
    strikes: AtomicU32,
}

impl Breaker {
    /// `Err` with the shared error once tripped.
    pub(crate) fn check(&self) -> Result<(), HttpErrorKind> {
        match self.tripped.get() {
            Some(u) => Err(HttpErrorKind::Unreachable(u.clone())),
            None => Ok(()),
        }
    }

    /// A connection was opened: the count of failures in a row starts again.
    pub(crate) fn success(&self) {
        self.strikes.store(0, Ordering::Relaxed);
    }

    /// Records a failed attempt to connect to `origin`; returns the error to report (the shared
    /// [`HttpErrorKind::Unreachable`] once tripped).
    pub(crate) fn failure(&self, origin: &str, failure: ConnectFailure) -> HttpErrorKind {
        let trip = |cause, hint| {
            let u = self.tripped.get_or_init(|| {
                Arc::new(Unreachable {
                    origin: origin.to_string(),
                    cause,
                    hint,
                })
            });
            HttpErrorKind::Unreachable(u.clone())
        };
        match failure.strike {
            Strike::No => match self.tripped.get() {
                Some(u) => HttpErrorKind::Unreachable(u.clone()),
                None => failure.kind,
            },
            Strike::Fatal { cause, hint } => trip(cause, hint),
            Strike::Counted { cause, hint } => {
                if self.strikes.fetch_add(1, Ordering::Relaxed) + 1 >= STRIKES {
                    trip(cause, hint)
                } else {
                    failure.kind
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted() -> ConnectFailure {
        ConnectFailure {
            kind: HttpErrorKind::Connect(std::io::ErrorKind::ConnectionRefused.into()),
            strike: Strike::Counted {
                cause: "connection refused".into(),
                hint: "check it",
            },
        }
    }

    #[test]
    fn trips_after_strikes_in_a_row_and_stays_tripped() {
        let b = Breaker::default();
        assert!(matches!(
            b.failure("o", counted()),
            HttpErrorKind::Connect(_)
        ));
        b.success();
        for _ in 1..STRIKES {
            assert!(matches!(
                b.failure("o", counted()),
                HttpErrorKind::Connect(_)
            ));
        }
        let HttpErrorKind::Unreachable(u) = b.failure("o", counted()) else {
            panic!("not tripped")
        };
        assert_eq!(
            u.to_string(),
            "cannot reach o: connection refused; check it"
        );
        // Later failures of any kind, and checks, report the first cause.
        let other = ConnectFailure {
            kind: HttpErrorKind::Protocol("x".into()),
            strike: Strike::Fatal {
                cause: "other".into(),
                hint: "",
            },
        };
        let HttpErrorKind::Unreachable(again) = b.failure("o", other) else {
            panic!()
        };
        assert!(Arc::ptr_eq(&u, &again));
        assert!(matches!(b.check(), Err(HttpErrorKind::Unreachable(_))));
    }
}
