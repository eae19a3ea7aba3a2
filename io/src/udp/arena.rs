//! Receive storage that the datagrams keep: `recvmmsg` writes straight into the spare capacity
//! of a large [`BytesMut`], the messages are moved together, and the batch is cut off as one
//! `BytesMut` whose slices become the datagrams. After the kernel's copy no byte is copied again.
//!
//! Stream data read later still points into an arena, so an arena is only reused once every
//! slice of it is gone ([`BytesMut::try_reclaim`]). Arenas given up while slices remain wait in
//! a short queue and are reused when they come free; beyond that queue they are left to their
//! slices, which free them.
//!
//! Why: the driver used to receive into fixed buffers and copy each batch into a fresh
//! allocation of its exact size. Besides the copy, that handed malloc an allocation and a free
//! per batch, and in about a third of the runs of `mpquic perf client` (1 GiB, pinned) malloc
//! gave memory back to the kernel and faulted it in again: 160,000 to 257,000 page faults and
//! 1.37 to 1.56 CPU-s per GiB instead of 0.87 to 1.0 with 5,000 to 10,000 faults. With arenas,
//! 12 runs out of 12 stayed at 0.94 to 1.03 CPU-s per GiB and about 5,000 faults. The copy saved
//! is paid back in cache misses, as the kernel now writes into 2 MiB of memory that is no longer
//! cached instead of the same hot buffer, so the gain is the steadiness, not the best case.

use std::collections::VecDeque;

use bytes::BytesMut;

/// Arenas given up while still referenced, kept for reuse: 16 MiB, more than an application
/// typically holds before it reads (`mpquic client` keeps up to about 5 MiB queued for its file
/// writer).
const MAX_RETIRED: usize = 8;
/// Smallest arena: 32 GRO buffers of 64 KiB.
const MIN_ARENA_BYTES: usize = 2 << 20;
/// Slots a receive call gets at least (while the arena has room for fewer, it is replaced).
/// Offering fewer messages per `recvmmsg` than the socket holds costs more than memory: with
/// the slots going down to 1 as an arena filled, `mpquic perf client` made 2.5 times the
/// `recvmmsg` calls of fixed buffers, and as many more ACK rounds.
const MIN_CALL_SLOTS: usize = 8;

/// Where a socket's received datagrams live; see the module documentation.
#[derive(Debug)]
pub struct RecvArena {
    current: BytesMut,
    retired: VecDeque<BytesMut>,
    slot_len: usize,
    arena_bytes: usize,
    allocations: u64,
}

impl RecvArena {
    /// An arena for messages of at most `slot_len` bytes each (a GRO buffer,
    /// [`super::RECV_BUFFER_BYTES`], when the socket has GRO). Nothing is allocated yet.
    pub fn new(slot_len: usize) -> Self {
        let slot_len = slot_len.max(1);
        let arena_bytes = MIN_ARENA_BYTES.max(slot_len * MIN_CALL_SLOTS * 2);
        Self { current: BytesMut::new(), retired: VecDeque::new(), slot_len, arena_bytes, allocations: 0 }
    }

    /// Bytes of each message slot.
    pub fn slot_len(&self) -> usize {
        self.slot_len
    }

    /// Arenas allocated so far (reused ones do not count).
    pub fn allocations(&self) -> u64 {
        self.allocations
    }

    /// Makes room for up to `want` message slots (at least one) and returns how many there are.
    pub(super) fn prepare(&mut self, want: usize) -> usize {
        if self.current.capacity() < self.slot_len * MIN_CALL_SLOTS && !self.current.try_reclaim(self.arena_bytes) {
            self.renew();
        }
        (self.current.capacity() / self.slot_len).clamp(1, want.max(1))
    }

    /// Replaces the current arena by a retired one whose slices are all gone, or a new one.
    fn renew(&mut self) {
        let had_arena = self.allocations > 0;
        let full = std::mem::take(&mut self.current);
        let arena_bytes = self.arena_bytes;
        self.current = match self.retired.iter_mut().position(|a| a.try_reclaim(arena_bytes)) {
            Some(i) => self.retired.remove(i).unwrap_or_default(),
            None => {
                self.allocations += 1;
                BytesMut::with_capacity(arena_bytes)
            }
        };
        // Before the first allocation there was nothing to keep.
        if had_arena {
            if self.retired.len() == MAX_RETIRED {
                self.retired.pop_front();
            }
            self.retired.push_back(full);
        }
    }

    /// The current arena, empty, with room for [`RecvArena::prepare`]'s slots.
    pub(super) fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }
}
