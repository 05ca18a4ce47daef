//! The retry policy: how many attempts, and how long to wait between them.

use std::time::Duration;

/// Attempts and exponential backoff with jitter for transient failures.
///
/// After attempt `n` fails with a [`Transient`](crate::ErrorClass::Transient) error and `n` is below
/// [`max_attempts`](Self::new), the job waits `min(max_delay, base_delay * 2^(n-1))` — with jitter,
/// a uniformly random duration between half of that and all of it — holding no slot, then queues
/// again at its current priority. Its waiters keep waiting and see only the final outcome.
///
/// A plain value: none of its methods waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) jitter: bool,
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (`1` means no retry), 100 ms base delay, 10 s cap,
    /// jitter on.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::new(5).max_attempts(), 5);
    /// ```
    pub const fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            jitter: true,
        }
    }

    /// One attempt, no retry.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::never().max_attempts(), 1);
    /// ```
    pub const fn never() -> Self {
        RetryPolicy::new(1)
    }

    /// The delay before the second attempt; doubles for each further one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(250)).jitter(false);
    /// assert_eq!(policy.delay_after(1), Duration::from_millis(250));
    /// assert_eq!(policy.delay_after(2), Duration::from_millis(500));
    /// ```
    pub const fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest delay between two attempts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new(10).max_delay(Duration::from_secs(1)).jitter(false);
    /// assert_eq!(policy.delay_after(9), Duration::from_secs(1));
    /// ```
    pub const fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Whether to randomize each delay (between half and all of it) so that many keys failing
    /// together do not retry in lockstep.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(100)).jitter(true);
    /// let delay = policy.delay_after(1);
    /// assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
    /// ```
    pub const fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The number of attempts allowed in all.
    ///
    /// # Examples
    ///
    /// ```
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// assert_eq!(RetryPolicy::default().max_attempts(), 3);
    /// ```
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt number `attempt` when the server asked for `retry_after`
    /// ([`ErrorClass::RetryAfter`](crate::ErrorClass::RetryAfter)): the longer of the backoff and
    /// the server's delay, never above [`max_delay`](Self::max_delay).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new(3).base_delay(Duration::from_millis(100)).jitter(false);
    /// // A 429 with `Retry-After: 2`: the server's delay is longer than the backoff, so it wins.
    /// let after = Some(Duration::from_secs(2));
    /// assert_eq!(policy.delay_after_hint(1, after), Duration::from_secs(2));
    /// assert_eq!(policy.delay_after_hint(1, None), Duration::from_millis(100));
    /// ```
    pub fn delay_after_hint(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.delay_after(attempt);
        match retry_after {
            Some(after) => backoff.max(after.min(self.max_delay)),
            None => backoff,
        }
    }

    /// The wait after failed attempt number `attempt` (1-based).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use fetch_scheduler::RetryPolicy;
    ///
    /// let policy = RetryPolicy::new(5).jitter(false); // 100 ms base delay
    /// assert_eq!(policy.delay_after(3), Duration::from_millis(400));
    /// ```
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(31);
        let full = self
            .base_delay
            .saturating_mul(1u32 << shift)
            .min(self.max_delay);
        if self.jitter && !full.is_zero() {
            let half = full / 2;
            let spread = (full - half).as_nanos().min(u128::from(u64::MAX)) as u64;
            half + Duration::from_nanos(fastrand::u64(0..=spread))
        } else {
            full
        }
    }
}

impl Default for RetryPolicy {
    /// Three attempts, 100 ms base delay, 10 s cap, jitter on.
    fn default() -> Self {
        RetryPolicy::new(3)
    }
}
