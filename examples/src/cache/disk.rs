//! [`DiskWriter`]: the cache's file creation and writes for async downloads, on threads of their
//! own, so that the executor's threads only receive, hash and hand over bytes.
//!
//! Each download gets an [`EntryWriter`]: it hashes every piece on the caller's task and gathers
//! the pieces into batches of [`BATCH`] bytes for its writer thread (entries are spread over the
//! threads in turn; all of one entry's work goes to the same thread, in order), which stages the
//! entry's file on the first batch and writes the rest (see [`Staged`]). A download goes on
//! receiving while its batches are written. [`EntryWriter::commit`] checks the hash on the
//! caller's side and, only if it matches, sends the last batch with the order to publish the
//! file: most tarballs are smaller than a batch, so they cross threads once. Dropping an
//! `EntryWriter` discards its file. At most [`QUEUED`] batches wait for the threads at any time:
//! a disk slower than the network slows the downloads down rather than filling memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use async_lock::{Semaphore, SemaphoreGuardArc};
use hyper::body::Bytes;

use super::Cache;
use super::error::{CacheError, io_err};
use super::staged::Staged;
use super::writer::{Stored, check};
use crate::integrity::{Algorithm, Hasher, Integrity};

/// Bytes an entry gathers before handing them to its writer thread.
pub const BATCH: usize = 128 * 1024;
/// Batches that may wait for the writer threads.
pub const QUEUED: usize = 64;

/// The writer threads of one cache. Dropping it waits for the threads to finish what was sent.
#[derive(Debug)]
pub struct DiskWriter {
    /// One queue per thread; an entry's operations all go to the same one, in order.
    queues: Vec<async_channel::Sender<Op>>,
    room: Arc<Semaphore>,
    next: AtomicU64,
    threads: Vec<JoinHandle<()>>,
}

/// One entry being written through a [`DiskWriter`].
#[derive(Debug)]
pub struct EntryWriter {
    id: u64,
    ops: async_channel::Sender<Op>,
    room: Arc<Semaphore>,
    hasher: Option<Hasher>,
    expected: Option<Integrity>,
    /// Pieces not yet handed to the thread, and their length.
    pending: Vec<Bytes>,
    pending_len: usize,
    bytes: u64,
    /// The thread took the file over for publishing: nothing to discard on drop.
    committed: bool,
}

#[derive(Debug)]
enum Op {
    Write {
        id: u64,
        pieces: Vec<Bytes>,
        /// Frees the batch's place in the queue once written.
        _room: SemaphoreGuardArc,
    },
    Commit {
        id: u64,
        /// The last pieces, not sent before.
        pieces: Vec<Bytes>,
        integrity: Integrity,
        bytes: u64,
        reply: async_channel::Sender<Result<Stored, CacheError>>,
    },
    Discard {
        id: u64,
    },
}

impl DiskWriter {
    /// Starts `threads` writer threads (at least one) for `cache`; their first work is to
    /// complete a new cache's layout ([`Cache::complete_layout`]).
    pub fn start(cache: &Cache, threads: usize) -> Result<DiskWriter, CacheError> {
        let mut writer = DiskWriter {
            queues: Vec::new(),
            room: Arc::new(Semaphore::new(QUEUED)),
            next: AtomicU64::new(0),
            threads: Vec::new(),
        };
        for _ in 0..threads.max(1) {
            let (ops, queue) = async_channel::unbounded();
            let cache = cache.clone();
            let thread = std::thread::Builder::new()
                .name("lockfetch-disk".into())
                .spawn(move || serve(&cache, &queue))
                .map_err(io_err("start a thread to write", std::path::Path::new(".")))?;
            writer.queues.push(ops);
            writer.threads.push(thread);
        }
        Ok(writer)
    }

    /// A new entry, to be checked against `expected` (without one, named by its sha512).
    pub fn entry(&self, expected: Option<&Integrity>) -> EntryWriter {
        let algorithm = expected.map_or(Algorithm::Sha512, Integrity::algorithm);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        EntryWriter {
            id,
            ops: self.queues[id as usize % self.queues.len()].clone(),
            room: self.room.clone(),
            hasher: Some(Hasher::new(algorithm)),
            expected: expected.cloned(),
            pending: Vec::new(),
            pending_len: 0,
            bytes: 0,
            committed: false,
        }
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        for queue in &self.queues {
            queue.close();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl EntryWriter {
    /// Hashes `bytes` and adds them to the file: handed to the thread once a batch is full
    /// (waiting while the queue is full).
    pub async fn write(&mut self, bytes: Bytes) -> Result<(), CacheError> {
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&bytes);
        }
        self.bytes += bytes.len() as u64;
        self.pending_len += bytes.len();
        self.pending.push(bytes);
        if self.pending_len < BATCH {
            return Ok(());
        }
        let room = self.room.acquire_arc().await;
        self.pending_len = 0;
        let op = Op::Write {
            id: self.id,
            pieces: std::mem::take(&mut self.pending),
            _room: room,
        };
        self.ops.send(op).await.map_err(|_| stopped())
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Checks the hash; if it matches, has the file published and waits until it is.
    pub async fn commit(mut self) -> Result<Stored, CacheError> {
        let hasher = self
            .hasher
            .take()
            .unwrap_or_else(|| Hasher::new(Algorithm::Sha512));
        // On a mismatch the drop below discards the file.
        let integrity = check(hasher, self.expected.as_ref(), self.bytes)?;
        let (reply, answer) = async_channel::bounded(1);
        let op = Op::Commit {
            id: self.id,
            pieces: std::mem::take(&mut self.pending),
            integrity,
            bytes: self.bytes,
            reply,
        };
        self.ops.send(op).await.map_err(|_| stopped())?;
        self.committed = true;
        answer.recv().await.map_err(|_| stopped())?
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.ops.try_send(Op::Discard { id: self.id });
        }
    }
}

/// A writer thread's error once it is gone (it only ends when its `DiskWriter` is dropped).
fn stopped() -> CacheError {
    CacheError::Io {
        action: "write to",
        path: "the cache".into(),
        source: std::io::Error::other("the writer thread has stopped"),
    }
}

/// A writer thread: stages, writes and publishes files in the order the operations come.
/// An entry whose file failed keeps its first error for its commit.
fn serve(cache: &Cache, queue: &async_channel::Receiver<Op>) {
    // A new cache's directory and layout file (the first thread there makes them), while the
    // downloads have not begun; if this fails, publishing makes the directory it needs, or says
    // why it cannot.
    let _ = cache.complete_layout();
    let mut files: HashMap<u64, Result<Staged, CacheError>> = HashMap::new();
    let write = |files: &mut HashMap<u64, Result<Staged, CacheError>>, id, pieces: &[Bytes]| {
        let file = files.entry(id).or_insert_with(|| {
            cache
                .stage()
                .map_err(io_err("create a new file in", cache.tmp_dir()))
        });
        if let Ok(staged) = file
            && let Err(e) = pieces.iter().try_for_each(|p| staged.write_all(p))
        {
            *file = Err(io_err("write to a new file in", cache.tmp_dir())(e));
        }
    };
    while let Ok(op) = queue.recv_blocking() {
        match op {
            Op::Write { id, pieces, _room } => write(&mut files, id, &pieces),
            Op::Commit {
                id,
                pieces,
                integrity,
                bytes,
                reply,
            } => {
                // Also makes the file of an empty body, which sent no piece.
                write(&mut files, id, &pieces);
                let file = files.remove(&id).expect("staged just above");
                let stored = file.and_then(|staged| cache.publish(staged, integrity, bytes));
                let _ = reply.try_send(stored);
            }
            Op::Discard { id } => {
                files.remove(&id);
            }
        }
    }
}
