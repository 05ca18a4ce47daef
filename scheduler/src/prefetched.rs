//! What [`Scheduler::prefetch`](crate::Scheduler::prefetch) reports.

/// What [`Scheduler::prefetch`](crate::Scheduler::prefetch) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prefetched {
    /// A new job was queued at `Prefetch` priority.
    Queued,
    /// The key was already queued, running or backing off; the prefetch joined it.
    Joined,
    /// The key is already done (a value or a permanent error is kept).
    Done,
    /// The scheduler is closed; nothing was queued.
    Closed,
}
