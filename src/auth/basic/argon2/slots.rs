//! Hashing slots: how many Argon2 hashes run at once, each on a memory block of its own that
//! is reused for every hash, and the bounded queue in front of them.
//!
//! Why reuse: `Argon2::hash_password_into` allocates its `m_cost` KiB (19 MiB by default)
//! afresh on every call and frees it after. Under glibc the first such free raises the
//! allocator's dynamic mmap threshold to that size (and its trim threshold to twice that), so
//! every later block comes from a malloc arena instead of `mmap`, and an arena keeps up to
//! two or three freed blocks resident instead of returning them. Hashes run on tokio's
//! blocking pool, whose threads come and go, and each new thread may take an arena of its own
//! (up to 8 per CPU): a 30 s flood of wrong passwords left 13 arenas holding 38 to 57 MiB each,
//! about 700 MB that the process never gave back. A slot's block is allocated on its first
//! hash (again only for a larger hash) and never freed, so a flood costs at most
//! `slots × m_cost`, whatever the threads and the allocator do.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ::argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The memory of one slot: Argon2 blocks, grown to the largest hash it has run.
#[derive(Default)]
pub(super) struct Memory {
    blocks: Vec<Block>,
    /// How many times this memory was allocated (tests check it is once per slot).
    #[cfg(test)]
    pub(super) allocations: usize,
}

impl Memory {
    /// The first `count` blocks, allocated (zeroed) when there are fewer. Argon2 writes every
    /// block before reading it, so what a previous hash left needs no clearing.
    pub(super) fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.len() < count {
            // Exactly `count`, freeing the smaller block first: no doubling, no two at once.
            self.blocks = Vec::new();
            self.blocks = vec![Block::new(); count];
            #[cfg(test)]
            {
                self.allocations += 1;
            }
        }
        &mut self.blocks[..count]
    }
}

/// A fixed number of hashing slots, each with its memory.
pub(super) struct Slots {
    /// One permit per slot: held from before the hash is handed to the blocking pool until it
    /// ends.
    pub(super) permits: Arc<Semaphore>,
    count: usize,
    /// The memories of the idle slots (at most `count`; fewer until each slot has hashed).
    free: Mutex<Vec<Memory>>,
    #[cfg(test)]
    pub(super) stats: Stats,
}

/// What the tests watch.
#[cfg(test)]
#[derive(Default)]
pub(super) struct Stats {
    running: std::sync::atomic::AtomicUsize,
    /// The most hashes that ran at once.
    pub(super) peak: std::sync::atomic::AtomicUsize,
    /// Hashes run.
    pub(super) hashed: std::sync::atomic::AtomicUsize,
}

impl Slots {
    /// `count` slots (`0` counts as `1`).
    pub(super) fn new(count: usize) -> Self {
        let count = count.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(count)),
            count,
            free: Mutex::new(Vec::with_capacity(count)),
            #[cfg(test)]
            stats: Stats::default(),
        }
    }

    /// The slots every [`Argon2Users`](super::Argon2Users) without a number of its own shares:
    /// one per CPU ([`available_parallelism`](std::thread::available_parallelism)); more would
    /// not check passwords faster, only use more memory.
    pub(super) fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<Slots>> = OnceLock::new();
        let slots = SHARED.get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
            Arc::new(Slots::new(cpus))
        });
        Arc::clone(slots)
    }

    /// How many slots.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Runs `hash` with an idle slot's memory, while `slot`, one of [`permits`](Self::permits),
    /// is held: as many memories exist as hashes ever ran at once, so never more than
    /// [`count`](Self::count).
    pub(super) fn hash<R>(
        &self,
        slot: OwnedSemaphorePermit,
        hash: impl FnOnce(&mut Memory) -> R,
    ) -> R {
        let mut memory = self.lock().pop().unwrap_or_default();
        #[cfg(test)]
        self.stats.start();
        let out = hash(&mut memory);
        #[cfg(test)]
        self.stats.end();
        // Back to the idle memories before the slot is free, so the next hash finds it.
        self.lock().push(memory);
        drop(slot);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Memory>> {
        // The list stays consistent whatever panicked: a lost memory is allocated again.
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many times the idle slots' memories were allocated, in all.
    #[cfg(test)]
    pub(super) fn allocations(&self) -> usize {
        self.lock().iter().map(|m| m.allocations).sum()
    }
}

#[cfg(test)]
impl Stats {
    fn start(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        self.hashed.fetch_add(1, SeqCst);
    }

    fn end(&self) {
        self.running
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The slots of one set of users, behind its bounded queue.
pub(super) struct Hashing {
    pub(super) slots: Arc<Slots>,
    /// One permit per verification waiting for a slot or hashing: `slots + max_queue`.
    admitted: Arc<Semaphore>,
    max_queue: usize,
    max_wait: Duration,
}

/// Why a verification was not hashed.
pub(super) struct Refused;

impl Hashing {
    pub(super) fn new(slots: Arc<Slots>, max_queue: usize, max_wait: Duration) -> Self {
        let admitted = slots
            .count()
            .saturating_add(max_queue)
            .min(Semaphore::MAX_PERMITS);
        Self {
            slots,
            admitted: Arc::new(Semaphore::new(admitted)),
            max_queue,
            max_wait,
        }
    }

    pub(super) fn max_queue(&self) -> usize {
        self.max_queue
    }

    pub(super) fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// A place in the queue, now or never: `None` when `slots + max_queue` verifications are
    /// already waiting or hashing.
    pub(super) fn admit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.admitted).try_acquire_owned().ok()
    }

    /// A slot: at once when one is idle; else in turn, refused when the turn comes after
    /// `max_wait`. Waiters are woken one by one as slots free (first come, first served), and
    /// one whose wait is over passes its turn on at once, so no hash is spent on a request that
    /// waited too long. No timer: it works on any runtime.
    pub(super) async fn slot(&self) -> Result<OwnedSemaphorePermit, Refused> {
        let permits = &self.slots.permits;
        match Arc::clone(permits).try_acquire_owned() {
            Ok(slot) => return Ok(slot),
            Err(TryAcquireError::Closed) => return Err(Refused),
            Err(TryAcquireError::NoPermits) => {}
        }
        let since = Instant::now();
        let slot = Arc::clone(permits)
            .acquire_owned()
            .await
            .map_err(|_| Refused)?;
        if since.elapsed() > self.max_wait {
            return Err(Refused);
        }
        Ok(slot)
    }
}
