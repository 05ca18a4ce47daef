//! The byte budget: the weights jobs hold while they run, the admission rule beside the slots, and
//! the running attempt's corrections (rows T25, T26).
//!
//! A job holds its weight from the moment it starts (T10) until its attempt ends (T13–T18), or
//! until the attempt gives it back early (T26). Queued jobs and jobs in retry backoff hold none.

use std::hash::Hash;

use super::job::{Job, Phase};
use super::{Core, Effects};
use crate::priority::Class;

/// Bytes held by running jobs, per class of their current priority, against the budget.
pub(super) struct Bytes {
    /// The most all running jobs may hold; `u64::MAX` when there is no budget.
    budget: u64,
    /// The most prefetch-class jobs may hold: the budget less the demand's share.
    prefetch_budget: u64,
    /// The weight of a job without a size hint, until its attempt says otherwise.
    default_weight: u64,
    held: [u64; 2],
    peak: u64,
}

impl Bytes {
    /// `reserved / concurrency` of the budget is the demand's share, as `reserved` of the slots
    /// are.
    pub(super) fn new(
        budget: u64,
        default_weight: u64,
        reserved: usize,
        concurrency: usize,
    ) -> Self {
        let share = u128::from(budget) * reserved as u128 / concurrency as u128;
        Bytes {
            budget,
            prefetch_budget: budget - u64::try_from(share).unwrap_or(budget),
            default_weight,
            held: [0; 2],
            peak: 0,
        }
    }

    /// The weight `job` starts at: what its attempts learnt, else its size hint, else the default.
    pub(super) fn weight_of<K>(&self, job: &Job<K>) -> u64 {
        match (job.learnt_weight, job.priority.hint) {
            (Some(weight), _) => weight,
            (None, 0) => self.default_weight,
            (None, hint) => hint,
        }
    }

    /// Bytes held by running jobs now.
    pub(super) fn held(&self) -> u64 {
        self.held[0].saturating_add(self.held[1])
    }

    /// The most bytes held at once since the scheduler was built.
    pub(super) fn peak(&self) -> u64 {
        self.peak
    }

    /// Whether a job of `class` weighing `weight` may start now: it fits beside what is held in
    /// the budget (and, for a prefetch, in the prefetch share), or nothing holds bytes — so a job
    /// heavier than the budget runs alone instead of waiting forever.
    pub(super) fn fits(&self, class: Class, weight: u64) -> bool {
        let held = self.held();
        if held == 0 {
            return true;
        }
        let in_budget = held.saturating_add(weight) <= self.budget;
        match class {
            Class::Demand => in_budget,
            Class::Prefetch => {
                in_budget
                    && self.held[Class::Prefetch.index()].saturating_add(weight)
                        <= self.prefetch_budget
            }
        }
    }

    pub(super) fn take(&mut self, class: Class, weight: u64) {
        let held = &mut self.held[class.index()];
        *held = held.saturating_add(weight);
        self.peak = self.peak.max(self.held());
    }

    pub(super) fn give_back(&mut self, class: Class, weight: u64) {
        let held = &mut self.held[class.index()];
        debug_assert!(*held >= weight, "bytes given back that were never taken");
        *held -= weight;
    }

    /// A running job changed class (promotion, demotion): its bytes move with it.
    pub(super) fn reclass(&mut self, before: Class, now: Class, weight: u64) {
        self.give_back(before, weight);
        self.take(now, weight);
    }
}

impl<K: Clone + Eq + Hash, V: Clone, E> Core<K, V, E> {
    /// T25: attempt `attempt` of job (`id`, `seq`) learnt its real weight. The job holds `weight`
    /// from now on (unless it released its bytes), and later attempts start at it. Ignored when
    /// that attempt is over. Queued jobs may start if the job got lighter.
    pub(crate) fn set_weight(
        &mut self,
        id: usize,
        seq: u64,
        attempt: u32,
        weight: u64,
        fx: &mut Effects<K>,
    ) {
        if !self.is_attempt(id, seq, attempt) {
            return;
        }
        let job = &mut self.jobs[id];
        job.learnt_weight = Some(weight);
        if !job.released {
            let class = job.priority.class;
            let before = std::mem::replace(&mut job.held, weight);
            self.bytes.give_back(class, before);
            self.bytes.take(class, weight);
        }
        self.dispatch(fx);
    }

    /// T26: attempt `attempt` of job (`id`, `seq`) holds its bytes no more; the job keeps running
    /// without weight. Ignored when that attempt is over or already released.
    pub(crate) fn release_bytes(&mut self, id: usize, seq: u64, attempt: u32, fx: &mut Effects<K>) {
        if !self.is_attempt(id, seq, attempt) {
            return;
        }
        let job = &mut self.jobs[id];
        if job.released {
            return;
        }
        job.released = true;
        let held = std::mem::take(&mut job.held);
        self.bytes.give_back(job.priority.class, held);
        self.dispatch(fx);
    }

    /// Gives back what running job `id` holds, as its attempt ends (T13–T18).
    pub(super) fn end_hold(&mut self, id: usize) {
        let job = &mut self.jobs[id];
        let held = std::mem::take(&mut job.held);
        self.bytes.give_back(job.priority.class, held);
    }

    /// Whether attempt `attempt` of job (`id`, `seq`) is the one running now.
    fn is_attempt(&self, id: usize, seq: u64, attempt: u32) -> bool {
        self.jobs
            .get(id)
            .is_some_and(|job| job.seq == seq && job.phase == Phase::Running { attempt })
    }
}
