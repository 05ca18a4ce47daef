//! The invariants every test ends with: answers, counters, capacity, events against counters.

use fetch_scheduler::{Event, EventKind, FailCause, Stats};

use crate::exec::Ctx;
use crate::recorder::Recorder;
use crate::subject::{FetchError, Key, TestScheduler, Value};

/// Checks one answer a waiter of `key` got: a value of that key, that key's error, or a panic of
/// that key's fetcher; `Closed` only if `closed_ok`.
pub fn check_answer(
    key: Key,
    answer: &Result<Value, fetch_scheduler::Error<FetchError>>,
    closed_ok: bool,
) -> Result<(), String> {
    use fetch_scheduler::Error;
    let ok = match answer {
        Ok(v) => v / 1000 == key && (1..1000).contains(&(v % 1000)),
        Err(Error::Failed(e)) => e.key == key && e.attempt >= 1,
        Err(Error::Panicked(msg)) => msg.contains(&format!("key {key} ")),
        Err(Error::Closed) => closed_ok,
        Err(_) => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("key {key}: unexpected answer {answer:?}"))
    }
}

/// Checks the identities documented on [`Stats`]:
/// `queued_by_prefetch + queued_by_demand == succeeded + failed + panicked + aborted + cancelled + in_flight()`
/// and `attempts == succeeded + failed + panicked + interrupted + retries + running()`.
pub fn check_stats(s: &Stats) -> Result<(), String> {
    let created = s.queued_by_prefetch + s.queued_by_demand;
    let ended =
        s.succeeded + s.failed + s.panicked + s.aborted + s.cancelled + s.in_flight() as u64;
    if created != ended {
        return Err(format!(
            "jobs created ({created}) != ended + in flight ({ended}): {s:?}"
        ));
    }
    let attempts =
        s.succeeded + s.failed + s.panicked + s.interrupted + s.retries + s.running() as u64;
    if s.attempts != attempts {
        return Err(format!(
            "attempts ({}) != succeeded + failed + panicked + interrupted + retries + running ({attempts}): {s:?}",
            s.attempts
        ));
    }
    Ok(())
}

/// [`check_stats`], panicking.
pub fn assert_stats_add_up(s: &Stats) {
    if let Err(e) = check_stats(s) {
        panic!("stats do not add up: {e}");
    }
}

/// [`check_stats`], and nothing queued, running, backing off, waiting or holding bytes: no slot,
/// waiter or byte of the budget leaked.
pub fn check_settled(s: &Stats) -> Result<(), String> {
    check_stats(s)?;
    if s.in_flight() != 0
        || s.running() != 0
        || s.backing_off != 0
        || s.waiters != 0
        || s.bytes_held != 0
    {
        return Err(format!(
            "not settled: in_flight {} running {} backing_off {} waiters {} bytes_held {}: {s:?}",
            s.in_flight(),
            s.running(),
            s.backing_off,
            s.waiters,
            s.bytes_held
        ));
    }
    Ok(())
}

/// [`check_settled`], panicking.
pub fn assert_settled(s: &Stats) {
    if let Err(e) = check_settled(s) {
        panic!("{e}");
    }
}

/// The capacity rule, true after every operation: a demand is queued only while every slot is
/// taken, and a prefetch only while every slot or every prefetch slot is taken. (A queued demand
/// with a free slot is a demand waiting while a reserved slot is free.)
pub fn check_capacity(s: &Stats, concurrency: usize, reserved: usize) -> Result<(), String> {
    if s.running() > concurrency {
        return Err(format!(
            "{} slots held out of {concurrency}: {s:?}",
            s.running()
        ));
    }
    if s.queued_demand > 0 && s.running() < concurrency {
        return Err(format!(
            "{} demand(s) queued while only {} of {concurrency} slots are held: {s:?}",
            s.queued_demand,
            s.running()
        ));
    }
    if s.queued_prefetch > 0
        && s.running() < concurrency
        && s.running_prefetch < concurrency - reserved
    {
        return Err(format!(
            "{} prefetch(es) queued while a prefetch slot is free: {s:?}",
            s.queued_prefetch
        ));
    }
    Ok(())
}

/// Checks that each counted happening produced exactly one event: the events of a subscription
/// taken before the first request, counted by kind, equal the counters of [`Stats`].
pub fn check_events_match_stats(events: &[Event<Key>], s: &Stats) -> Result<(), String> {
    let mut n = [0u64; 12];
    for e in events {
        let i = match e.kind {
            EventKind::Queued(_) => 0,
            EventKind::Joined(_) => 1,
            EventKind::Promoted(_) => 2,
            EventKind::Demoted(_) => 3,
            EventKind::Started { .. } => 4,
            EventKind::Retrying { .. } => 5,
            EventKind::Succeeded { .. } => 6,
            EventKind::Failed { cause, .. } => match cause {
                FailCause::Permanent | FailCause::Transient => 7,
                FailCause::Panicked => 8,
                FailCause::Aborted => 10,
                _ => return Err(format!("a failure of an unknown cause: {e:?}")),
            },
            EventKind::Cancelled => 9,
            EventKind::WaitingForBytes { .. } => 11,
            EventKind::Progress { .. } => continue,
            _ => return Err(format!("an event of an unknown kind: {e:?}")),
        };
        n[i] += 1;
    }
    let expected = [
        ("Queued", s.queued_by_prefetch + s.queued_by_demand),
        ("Joined", s.joined),
        ("Promoted", s.promoted),
        ("Demoted", s.demoted),
        ("Started", s.attempts),
        ("Retrying", s.retries),
        ("Succeeded", s.succeeded),
        ("Failed", s.failed),
        ("Failed(panicked)", s.panicked),
        ("Cancelled", s.cancelled),
        ("Failed(aborted)", s.aborted),
        ("WaitingForBytes", s.waited_for_bytes),
    ];
    let wrong: Vec<String> = expected
        .iter()
        .zip(n)
        .filter(|((_, want), got)| want != got)
        .map(|((name, want), got)| format!("{name}: {got} events, stats say {want}"))
        .collect();
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "events do not match stats: {}; {s:?}",
            wrong.join(", ")
        ))
    }
}

/// Closes `s`, waits (at most one step's timeout) for it to drain, and checks that nothing is left
/// and that the events `rec` saw match the counters: how every scenario ends.
pub async fn close_and_settle(ctx: &Ctx, s: &TestScheduler, rec: &mut Recorder) -> Stats {
    s.close();
    ctx.within("drain after close", s.drain()).await;
    settled(s, rec)
}

/// Checks that nothing is in flight or waiting in `s` and that the events `rec` saw match the
/// counters; returns the stats.
pub fn settled(s: &TestScheduler, rec: &mut Recorder) -> Stats {
    let stats = s.stats();
    assert_settled(&stats);
    assert_events_match_stats(rec.all(), &stats);
    stats
}

/// [`check_events_match_stats`], panicking.
pub fn assert_events_match_stats(events: &[Event<Key>], s: &Stats) {
    if let Err(e) = check_events_match_stats(events, s) {
        panic!("{e}");
    }
}
