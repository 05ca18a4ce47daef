//! The fake fetcher: gated, scripted, counted and logged attempts.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fetch_scheduler::{Fetch, JobContext, Priority};

use crate::gate::{Gate, lock};
use crate::panics::SCRIPTED_PANIC;
use crate::subject::{FetchError, Key, Value, value_of};

/// What one attempt of a [`Fake`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Returns [`value_of`] the key and attempt.
    Succeed,
    /// Returns a transient [`FetchError`].
    Fail,
    /// Returns a permanent [`FetchError`].
    FailPermanently,
    /// Panics inside the future.
    Panic,
    /// Panics in the synchronous `fetch` call, before any future exists.
    PanicBeforeFuture,
}

/// Odds, in per mille, of each outcome of an unscripted attempt of a randomized [`Fake`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Odds {
    /// Transient errors.
    pub fail: u32,
    /// Permanent errors.
    pub permanent: u32,
    /// Panics (half in the future, half before it).
    pub panic: u32,
}

/// One recorded call of a [`Fake`].
#[derive(Clone, Debug)]
pub struct Call {
    /// The key.
    pub key: Key,
    /// The attempt number the scheduler gave (0 for a direct [`Fake::download`]).
    pub attempt: u32,
    /// What the call was scripted to do.
    pub step: Step,
    /// The job's priority when the attempt started (`None` for a direct download).
    pub priority_at_start: Option<Priority>,
    /// The job's priority when the attempt ended, if it has.
    pub priority_at_end: Option<Priority>,
}

#[derive(Default)]
struct FakeState {
    scripts: HashMap<Key, VecDeque<Step>>,
    gates: HashMap<Key, Arc<Gate>>,
    hold_all: bool,
    random: Option<(fastrand::Rng, Odds)>,
    yields: usize,
    busy: Duration,
    keep_log: bool,
    calls: HashMap<Key, u32>,
    ended: HashMap<Key, u32>,
    running: HashMap<Key, u32>,
    running_total: usize,
    max_running_total: usize,
    total_calls: u64,
    overlaps: Vec<Key>,
    log: Vec<Call>,
}

struct FakeInner {
    state: Mutex<FakeState>,
    changed: event_listener::Event,
}

/// A controllable fetcher, shared by clones.
///
/// By default every attempt succeeds at once. [`hold`](Fake::hold) makes a key's attempts wait
/// until [`release`](Fake::release); [`script`](Fake::script) queues outcomes per attempt;
/// [`randomize`](Fake::randomize) draws outcomes of unscripted attempts. It counts calls per key,
/// records each call, and notes every time an attempt of a key starts while another attempt of the
/// same key is still running ([`overlaps`](Fake::overlaps): must stay empty under the scheduler).
#[derive(Clone)]
pub struct Fake {
    inner: Arc<FakeInner>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake::new()
    }
}

impl fmt::Debug for Fake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state();
        f.debug_struct("Fake")
            .field("total_calls", &s.total_calls)
            .field("running_total", &s.running_total)
            .field("overlaps", &s.overlaps)
            .finish()
    }
}

impl Fake {
    /// A fetcher whose attempts all succeed at once, with a call log.
    pub fn new() -> Self {
        Fake {
            inner: Arc::new(FakeInner {
                state: Mutex::new(FakeState {
                    keep_log: true,
                    ..FakeState::default()
                }),
                changed: event_listener::Event::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        lock(&self.inner.state)
    }

    fn changed(&self) {
        self.inner.changed.notify(usize::MAX);
    }

    /// Makes every later attempt of `key` wait until [`release`](Fake::release) (a fresh, closed
    /// gate: attempts already past an old gate are not affected).
    pub fn hold(&self, key: Key) {
        self.state().gates.insert(key, Gate::new());
    }

    /// Holds every key that has no gate yet, until released one by one or by
    /// [`release_all`](Fake::release_all).
    pub fn hold_all(&self) {
        self.state().hold_all = true;
    }

    /// Opens `key`'s gate: its waiting attempt proceeds, and later ones do not wait.
    pub fn release(&self, key: Key) {
        let gate = Arc::clone(self.state().gates.entry(key).or_default());
        gate.open();
    }

    /// Opens every gate and stops holding keys.
    pub fn release_all(&self) {
        let gates: Vec<Arc<Gate>> = {
            let mut s = self.state();
            s.hold_all = false;
            s.gates.values().cloned().collect()
        };
        for gate in gates {
            gate.open();
        }
    }

    /// Queues outcomes for the next attempts of `key`, in order; after them, attempts succeed (or
    /// draw at random).
    pub fn script(&self, key: Key, steps: impl IntoIterator<Item = Step>) {
        self.state().scripts.entry(key).or_default().extend(steps);
    }

    /// Draws the outcome of every unscripted attempt from `odds` with a generator seeded by `seed`.
    pub fn randomize(&self, seed: u64, odds: Odds) {
        self.state().random = Some((fastrand::Rng::with_seed(seed), odds));
    }

    /// Yields to the executor `times` times inside every attempt (more interleavings).
    pub fn yields(&self, times: usize) {
        self.state().yields = times;
    }

    /// Makes every attempt compute for `busy` (a spin, no await) before anything else, as a fetcher
    /// that hashes or unpacks synchronously would.
    pub fn busy(&self, busy: Duration) {
        self.state().busy = busy;
    }

    /// Stops recording the per-call log (counters stay), for long stress runs.
    pub fn without_log(&self) {
        self.state().keep_log = false;
    }

    /// Attempts of `key` started so far.
    pub fn calls(&self, key: Key) -> u32 {
        self.state().calls.get(&key).copied().unwrap_or(0)
    }

    /// Attempts of `key` that have ended (returned or panicked).
    pub fn ended(&self, key: Key) -> u32 {
        self.state().ended.get(&key).copied().unwrap_or(0)
    }

    /// Attempts of all keys started so far.
    pub fn total_calls(&self) -> u64 {
        self.state().total_calls
    }

    /// Attempts running right now.
    pub fn running(&self) -> usize {
        self.state().running_total
    }

    /// The most attempts that ever ran at once.
    pub fn max_running(&self) -> usize {
        self.state().max_running_total
    }

    /// Keys whose attempt started while another attempt of the same key was still running.
    pub fn overlaps(&self) -> Vec<Key> {
        self.state().overlaps.clone()
    }

    /// Every call so far, in start order.
    pub fn log(&self) -> Vec<Call> {
        self.state().log.clone()
    }

    /// The keys in the order their attempts started.
    pub fn start_order(&self) -> Vec<Key> {
        self.state().log.iter().map(|c| c.key).collect()
    }

    /// Keys with more than one attempt started, for duplicate counting.
    pub fn keys_called_more_than_once(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .state()
            .calls
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(&k, _)| k)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Resolves once `cond` holds; re-checked after every start and end of an attempt.
    pub async fn until(&self, mut cond: impl FnMut(&Fake) -> bool) {
        loop {
            let listener = self.inner.changed.listen();
            if cond(self) {
                return;
            }
            listener.await;
        }
    }

    /// Resolves once `key` has had `n` attempts started.
    pub async fn started(&self, key: Key, n: u32) {
        self.until(|f| f.calls(key) >= n).await;
    }

    /// Records the start of an attempt; decides its step and gate.
    fn begin(
        &self,
        key: Key,
        attempt: u32,
        priority: Option<Priority>,
    ) -> (Step, Option<Arc<Gate>>, (usize, Duration), Option<usize>) {
        let mut guard = self.state();
        let s = &mut *guard;
        s.total_calls += 1;
        *s.calls.entry(key).or_insert(0) += 1;
        let running = s.running.entry(key).or_insert(0);
        *running += 1;
        if *running > 1 {
            s.overlaps.push(key);
        }
        s.running_total += 1;
        s.max_running_total = s.max_running_total.max(s.running_total);
        let scripted = s.scripts.get_mut(&key).and_then(VecDeque::pop_front);
        let step = match (scripted, &mut s.random) {
            (Some(step), _) => step,
            (None, Some((rng, odds))) => {
                let roll = rng.u32(0..1000);
                if roll < odds.fail {
                    Step::Fail
                } else if roll < odds.fail + odds.permanent {
                    Step::FailPermanently
                } else if roll < odds.fail + odds.permanent + odds.panic {
                    if roll % 2 == 0 {
                        Step::Panic
                    } else {
                        Step::PanicBeforeFuture
                    }
                } else {
                    Step::Succeed
                }
            }
            (None, None) => Step::Succeed,
        };
        let gate = match s.gates.get(&key) {
            Some(gate) => Some(Arc::clone(gate)),
            None if s.hold_all => Some(Arc::clone(s.gates.entry(key).or_default())),
            None => None,
        };
        let index = s.keep_log.then(|| {
            s.log.push(Call {
                key,
                attempt,
                step,
                priority_at_start: priority,
                priority_at_end: None,
            });
            s.log.len() - 1
        });
        let pace = (s.yields, s.busy);
        drop(guard);
        self.changed();
        (step, gate, pace, index)
    }

    /// Records the end of an attempt.
    fn end(&self, key: Key, index: Option<usize>, priority: Option<Priority>) {
        {
            let mut s = self.state();
            *s.running.get_mut(&key).expect("began") -= 1;
            s.running_total -= 1;
            *s.ended.entry(key).or_insert(0) += 1;
            if let Some(i) = index {
                s.log[i].priority_at_end = priority;
            }
        }
        self.changed();
    }

    fn attempt_future(
        &self,
        key: Key,
        attempt: u32,
        cx: Option<JobContext>,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        // Reported before the start is recorded, so a test that saw the start sees the progress.
        if let Some(cx) = &cx {
            cx.progress(u64::from(attempt) * 10, Some(100));
        }
        let (step, gate, (yields, busy), index) =
            self.begin(key, attempt, cx.as_ref().map(JobContext::priority));
        if step == Step::PanicBeforeFuture {
            self.end(key, index, None);
            panic!("{SCRIPTED_PANIC} before the future: key {key} attempt {attempt}");
        }
        let this = self.clone();
        async move {
            let began = std::time::Instant::now();
            while began.elapsed() < busy {
                std::hint::spin_loop();
            }
            if let Some(gate) = gate {
                gate.wait().await;
            }
            for _ in 0..yields {
                futures_lite::future::yield_now().await;
            }
            this.end(key, index, cx.as_ref().map(JobContext::priority));
            let error = |permanent| FetchError {
                key,
                attempt,
                permanent,
            };
            match step {
                Step::Succeed => Ok(value_of(key, attempt)),
                Step::Fail => Err(error(false)),
                Step::FailPermanently => Err(error(true)),
                Step::Panic => panic!("{SCRIPTED_PANIC}: key {key} attempt {attempt}"),
                Step::PanicBeforeFuture => unreachable!("handled before the future"),
            }
        }
    }

    /// One download of `key` without any scheduler (the naive installer of pnpm/pnpm#12241):
    /// counted, gated and scripted like a scheduled attempt, with attempt number 0.
    pub fn download(
        &self,
        key: Key,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        self.attempt_future(key, 0, None)
    }
}

impl Fetch<Key, Value, FetchError> for Fake {
    fn fetch(
        &self,
        key: &Key,
        cx: JobContext,
    ) -> impl Future<Output = Result<Value, FetchError>> + Send + 'static {
        self.attempt_future(*key, cx.attempt(), Some(cx.clone()))
    }
}
