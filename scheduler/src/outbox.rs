//! Answers for `get_all` batches, decided under the scheduler lock and delivered after it.
//!
//! A locked section that ends jobs only notes which batch each answer goes to; the answers reach
//! the batches' [`Inbox`]es once the lock is released. They are grouped by inbox, so a worker that
//! ends many jobs of one batch at a time takes that inbox's lock once, and shares its `Arc` once,
//! however many answers it posts.

use crate::fetch::JobShared;
use crate::inbox::{AnswerKey, Inbox};
use crate::store::Kept;
use crate::sync::Arc;
use crate::waiter::Wakers;
use smallvec::SmallVec;

/// A batch answered, and its inbox.
type Addressee<K, V, E> = (usize, Arc<Inbox<K, V, E>>);

/// An answer: the index of its addressee, the job (for its key) and the outcome.
type Answer<K, V, E> = (usize, std::sync::Arc<JobShared<K>>, Kept<V, E>);

/// Answers waiting for the scheduler lock to be released.
pub(crate) struct Outbox<K, V, E> {
    /// The batches answered; usually one.
    inboxes: SmallVec<[Addressee<K, V, E>; 1]>,
    answers: Vec<Answer<K, V, E>>,
}

impl<K, V, E> Outbox<K, V, E> {
    pub(crate) fn new() -> Self {
        Outbox {
            inboxes: SmallVec::new(),
            answers: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Whether dropping it would free anything.
    pub(crate) fn holds_memory(&self) -> bool {
        self.inboxes.spilled() || !self.inboxes.is_empty() || self.answers.capacity() > 0
    }
}

impl<K: Clone, V, E> Outbox<K, V, E> {
    /// Notes the answer `kept` of `job` for batch `batch`; `inbox` gives the batch's inbox when
    /// this outbox does not hold it yet.
    pub(crate) fn push(
        &mut self,
        batch: usize,
        inbox: impl FnOnce() -> Arc<Inbox<K, V, E>>,
        job: std::sync::Arc<JobShared<K>>,
        kept: Kept<V, E>,
    ) {
        let index = match self.inboxes.iter().rposition(|&(b, _)| b == batch) {
            Some(index) => index,
            None => {
                self.inboxes.push((batch, inbox()));
                self.inboxes.len() - 1
            }
        };
        self.answers.push((index, job, kept));
    }

    /// Posts every answer to its inbox, one lock hold per inbox, and adds the streams to wake to
    /// `wake`. Keeps its own capacity for the next use.
    pub(crate) fn deliver(&mut self, wake: &mut Wakers) {
        if self.answers.is_empty() {
            return;
        }
        if self.inboxes.len() > 1 {
            self.answers.sort_by_key(|&(index, _, _)| index);
        }
        let mut answers = self.answers.drain(..).peekable();
        for (index, (_, inbox)) in self.inboxes.iter().enumerate() {
            let run = std::iter::from_fn(|| answers.next_if(|&(i, _, _)| i == index))
                .map(|(_, job, kept)| (AnswerKey::Job(job), kept));
            wake.extend(inbox.post_all(run));
        }
        self.inboxes.clear();
    }
}
