//! The test harness of `fetch-scheduler`, written once and shared by every test of this crate.
//!
//! - [`Exec`] names the three executors every behaviour runs under: tokio multi-thread, tokio
//!   current-thread and a smol [`Executor`](smol::Executor) driven by three threads. [`run`] builds
//!   one, hands the test body a [`Ctx`] (the matching [`fetch_scheduler::Runtime`], task and thread
//!   spawning, per-step deadlines) and drives the body **under a deadline**, so a hang is a
//!   failure with a message rather than a stuck CI. A watchdog aborts the process if a thread is
//!   blocked so hard that even the deadline cannot fire.
//! - [`within`] is the one deadline every wait of a test goes through ([`Ctx::within`] in a test
//!   body, [`on_thread_within`] for blocking code); see the [`deadline`] module.
//! - [`Fake`] is a controllable fetcher: per-key [`Gate`]s that hold attempts until the test opens
//!   them, scripted outcomes per attempt ([`Step`]: success, transient or permanent error, panic),
//!   counters of calls per key, a detector of two attempts of one key running at once, and a log of
//!   every call with the priority the attempt saw.
//! - [`Recorder`] keeps a scheduler's events and waits for facts they announce; [`ManualTimers`]
//!   makes retry backoffs last exactly as long as a test needs.
//! - [`check_stats`], [`check_capacity`] and [`check_events_match_stats`] state the invariants
//!   every test ends with: the counters add up, no slot or waiter is leaked, demand never waits while
//!   a slot it may take is free, and each happening produced exactly one event.
//!
//! Ordering in tests relies on gates and events, never on sleeps: a test waits for an observable
//! fact (an event, a call of the fake, a task's end, `drain`), bounded by [`within`].

pub mod deadline;
mod exec;
mod fake;
mod gate;
mod invariants;
mod panics;
mod recorder;
mod subject;
mod task;
mod timers;

pub use crate::deadline::{STEP_TIMEOUT, TEST_TIMEOUT, on_thread_within, within, within_limit};
pub use crate::exec::{AnyRuntime, Ctx, Exec, run, run_with_timeout};
pub use crate::fake::{Call, Fake, Odds, Step};
pub use crate::gate::{Gate, GateWait};
pub use crate::invariants::{
    assert_events_match_stats, assert_settled, assert_stats_add_up, check_answer, check_capacity,
    check_events_match_stats, check_settled, check_stats, close_and_settle, settled,
};
pub use crate::panics::{SCRIPTED_PANIC, panic_text, quiet_scripted_panics};
pub use crate::recorder::{Recorder, collect_events, kinds_of};
pub use crate::subject::{
    FetchError, Key, TestScheduler, Value, build, build_with_retry, classify, value_of,
};
pub use crate::task::{Task, plain_thread};
pub use crate::timers::ManualTimers;
