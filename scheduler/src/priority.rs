//! Priorities: two classes, and a hint that orders jobs inside a class.

use std::fmt;

/// Why a key is wanted. Every `Demand` outranks every `Prefetch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Class {
    /// Speculative: "I will probably need this". Limited to the slots not reserved for demand.
    Prefetch,
    /// Needed now: somebody is awaiting the result.
    Demand,
}

/// A job's priority: its class first, then a hint (larger first), then arrival order (FIFO).
///
/// The hint lets an installer order downloads inside a class, e.g. largest tarball first. A job's
/// effective priority is the highest of its live interests: the prefetches that asked for it and the
/// demand waiters still waiting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority {
    /// The class, compared first.
    pub class: Class,
    /// Order inside a class: larger runs first. `0` when none is given.
    pub hint: u64,
}

impl Priority {
    /// `Prefetch` priority with `hint`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::{Class, Priority};
    ///
    /// assert_eq!(Priority::prefetch(7).class, Class::Prefetch);
    /// assert!(Priority::prefetch(7) > Priority::prefetch(3), "larger hints first");
    /// ```
    pub const fn prefetch(hint: u64) -> Self {
        Priority {
            class: Class::Prefetch,
            hint,
        }
    }

    /// `Demand` priority with `hint`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::Priority;
    ///
    /// assert!(Priority::demand(0) > Priority::prefetch(u64::MAX), "every demand outranks every prefetch");
    /// ```
    pub const fn demand(hint: u64) -> Self {
        Priority {
            class: Class::Demand,
            hint,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            Class::Prefetch => write!(f, "prefetch/{}", self.hint),
            Class::Demand => write!(f, "demand/{}", self.hint),
        }
    }
}

impl Class {
    /// `0` for `Prefetch`, `1` for `Demand`: an index into per-class tables.
    pub(crate) const fn index(self) -> usize {
        match self {
            Class::Prefetch => 0,
            Class::Demand => 1,
        }
    }
}
