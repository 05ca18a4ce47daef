//! The run queue: two classes, hint buckets inside each class, FIFO inside a bucket.
//!
//! Each class maps a hint to a bucket (a `BTreeMap`, largest hint first); each bucket is a doubly
//! linked list threaded through one slab of nodes. Push, remove-by-ticket and pop are O(1) plus one
//! map look-up over the *distinct hints* in the class — O(1) when hints are not used — and never scan
//! the queue. Promotion is a remove from one class and a push to the other.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use slab::Slab;

use crate::priority::{Class, Priority};

/// Where a job sits in the queue; handed back to [`Queue::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(usize);

struct Node {
    job: usize,
    priority: Priority,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Clone, Copy)]
struct Bucket {
    head: usize,
    tail: usize,
}

/// Jobs waiting for a slot, ordered by [`Priority`] then arrival.
#[derive(Default)]
pub(crate) struct Queue {
    nodes: Slab<Node>,
    classes: [BTreeMap<Reverse<u64>, Bucket>; 2],
    lens: [usize; 2],
}

impl Queue {
    /// Appends `job` behind every queued job of the same priority.
    pub(crate) fn push(&mut self, job: usize, priority: Priority) -> Ticket {
        let idx = self.nodes.insert(Node {
            job,
            priority,
            prev: None,
            next: None,
        });
        let class = priority.class.index();
        self.lens[class] += 1;
        match self.classes[class].get_mut(&Reverse(priority.hint)) {
            Some(bucket) => {
                let tail = bucket.tail;
                bucket.tail = idx;
                self.nodes[tail].next = Some(idx);
                self.nodes[idx].prev = Some(tail);
            }
            None => {
                self.classes[class].insert(
                    Reverse(priority.hint),
                    Bucket {
                        head: idx,
                        tail: idx,
                    },
                );
            }
        }
        Ticket(idx)
    }

    /// Takes the job behind `ticket` out of the queue, wherever it is; returns its job id.
    pub(crate) fn remove(&mut self, ticket: Ticket) -> usize {
        let node = self.nodes.remove(ticket.0);
        let class = node.priority.class.index();
        self.lens[class] -= 1;
        if let Some(prev) = node.prev {
            self.nodes[prev].next = node.next;
        }
        if let Some(next) = node.next {
            self.nodes[next].prev = node.prev;
        }
        let key = Reverse(node.priority.hint);
        match (node.prev, node.next) {
            (None, None) => {
                self.classes[class].remove(&key);
            }
            (None, Some(next)) => self.bucket(class, key).head = next,
            (Some(prev), None) => self.bucket(class, key).tail = prev,
            (Some(_), Some(_)) => {}
        }
        node.job
    }

    /// Takes the first job of `class`: highest hint, then oldest.
    pub(crate) fn pop(&mut self, class: Class) -> Option<usize> {
        let head = self.classes[class.index()].first_key_value()?.1.head;
        Some(self.remove(Ticket(head)))
    }

    /// The first job of `class` (the one [`pop`](Queue::pop) would take), left in the queue.
    pub(crate) fn peek(&self, class: Class) -> Option<usize> {
        let head = self.classes[class.index()].first_key_value()?.1.head;
        Some(self.nodes[head].job)
    }

    /// How many jobs of `class` are queued.
    pub(crate) fn len(&self, class: Class) -> usize {
        self.lens[class.index()]
    }

    fn bucket(&mut self, class: usize, key: Reverse<u64>) -> &mut Bucket {
        self.classes[class]
            .get_mut(&key)
            .expect("queue bucket of a linked node exists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn demand_hint_and_fifo_order() {
        let mut q = Queue::default();
        q.push(1, Priority::prefetch(0));
        q.push(2, Priority::prefetch(5));
        q.push(3, Priority::prefetch(5));
        let t4 = q.push(4, Priority::prefetch(0));
        q.remove(t4);
        q.push(4, Priority::demand(0));
        assert_eq!(q.pop(Class::Demand), Some(4));
        assert_eq!(q.pop(Class::Demand), None);
        assert_eq!(q.pop(Class::Prefetch), Some(2));
        assert_eq!(q.pop(Class::Prefetch), Some(3));
        assert_eq!(q.pop(Class::Prefetch), Some(1));
        assert_eq!(q.pop(Class::Prefetch), None);
        assert_eq!(q.len(Class::Prefetch) + q.len(Class::Demand), 0);
    }

    proptest! {
        /// The queue pops in the same order as a sorted list of (class, hint desc, arrival).
        #[test]
        fn matches_a_sorted_reference(ops in proptest::collection::vec((0u8..3, 0u64..4, any::<bool>()), 1..200)) {
            let mut q = Queue::default();
            let mut model: Vec<(Priority, u64, usize)> = Vec::new(); // (priority, arrival, job)
            let mut tickets: Vec<(usize, Ticket)> = Vec::new();
            let mut arrival = 0u64;
            for (job, (op, hint, demand)) in ops.into_iter().enumerate() {
                match op {
                    0 | 1 => {
                        let p = if demand { Priority::demand(hint) } else { Priority::prefetch(hint) };
                        tickets.push((job, q.push(job, p)));
                        model.push((p, arrival, job));
                        arrival += 1;
                    }
                    _ if !tickets.is_empty() => {
                        let (job, t) = tickets.swap_remove(hint as usize % tickets.len());
                        prop_assert_eq!(q.remove(t), job);
                        model.retain(|m| m.2 != job);
                    }
                    _ => {}
                }
            }
            model.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut popped = Vec::new();
            while let Some(j) = q.pop(Class::Demand).or_else(|| q.pop(Class::Prefetch)) {
                popped.push(j);
            }
            let expected: Vec<usize> = model.iter().map(|m| m.2).collect();
            prop_assert_eq!(popped, expected);
        }
    }
}
