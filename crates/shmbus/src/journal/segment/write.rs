//! A segment seen by its writer (the writer-lock holder only): frames encoded at positions
//! (`frame.rs`), and their publication (`publish.rs`) followed by the doorbell (`doorbell.rs`).

use std::sync::atomic::Ordering;

use super::Segment;
use crate::journal::doorbell::Doorbell;
use crate::journal::format::*;
use crate::journal::frame;
use crate::journal::publish;

impl Segment {
    #[inline]
    pub(crate) fn index_store(&self, k: u64, pos: u64) {
        let slot = self.index_off + (k % u64::from(self.index_n)) as usize * 8;
        if let Some(w) = self.region.map().u64_at(slot) {
            // Relaxed: a hint (see `index_lookup`).
            w.store(pos, Ordering::Relaxed);
        }
    }

    /// The payload bytes of a frame of `len` bytes at `pos`, its padding zeroed
    /// (`frame::reserve`).
    ///
    /// # Safety
    ///
    /// Only the writer-lock holder calls this, for a range beyond the committed end (and, in a
    /// ring, past the `oldest` horizon already advanced and fenced), so nobody else uses it.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn reserve(&self, pos: u64, len: u32) -> &mut [u8] {
        // SAFETY: this function's contract is `frame::reserve`'s.
        unsafe { frame::reserve(self.region.map(), self.writer_phys(pos), len) }
    }

    /// The payload bytes of the frame being written at `pos`.
    ///
    /// # Safety
    ///
    /// As [`Segment::reserve`].
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn payload_mut(&self, pos: u64, len: u32) -> &mut [u8] {
        // SAFETY: this function's contract is `frame::payload_mut`'s.
        unsafe { frame::payload_mut(self.region.map(), self.writer_phys(pos), len) }
    }

    /// Writes a whole frame at `pos` (`frame::encode`).
    ///
    /// # Safety
    ///
    /// As [`Segment::reserve`].
    #[inline]
    pub(crate) unsafe fn write_frame(
        &self,
        pos: u64,
        ty: u16,
        seq: u64,
        publish: bool,
        payload: &[u8],
        crc: u32,
    ) {
        let off = self.writer_phys(pos);
        // SAFETY: this function's contract is `frame::encode`'s.
        unsafe { frame::encode(self.region.map(), off, ty, seq, publish, payload, crc) }
    }

    /// Completes the frame reserved at `pos` (`frame::finish`).
    #[inline]
    pub(crate) fn finish_frame(
        &self,
        pos: u64,
        len: u32,
        ty: u16,
        seq: u64,
        publish: bool,
        crc: u32,
    ) {
        let off = self.writer_phys(pos);
        frame::finish(self.region.map(), off, len, ty, seq, publish, crc);
    }

    /// Writes a padding of `bytes` at `pos` (ring only).
    pub(crate) fn write_pad(&self, pos: u64, bytes: u64) {
        frame::encode_pad(self.region.map(), self.writer_phys(pos), bytes);
    }

    /// Publishes a batch up to `end` whose first frame, if any, is `first` (position, sequence),
    /// then wakes sleeping readers. The word at `end` is zero already (see `publish.rs`).
    #[inline]
    pub(crate) fn publish(&self, first: Option<(u64, u64)>, end: u64, next_seq: u64) {
        if let Some((pos, seq)) = first {
            publish::publish_batch(self, pos, seq);
        }
        publish::publish_commit(self, end, next_seq);
        self.ring_doorbell();
    }

    /// Marks the segment final at `pos` (`publish::seal`) and wakes sleeping readers.
    pub(crate) fn seal(&self, pos: u64) {
        publish::seal(self, pos);
        self.ring_doorbell();
    }

    #[inline]
    fn ring_doorbell(&self) {
        let map = self.region.map();
        // The writer's own mapping holds the doorbell page (validated: it lies before the data).
        if let (Some(futex), Some(waiters)) = (
            map.u32_at(DOORBELL_OFFSET + DB_FUTEX),
            map.u32_at(DOORBELL_OFFSET + DB_WAITERS),
        ) {
            Doorbell { futex, waiters }.ring();
        }
    }
}
