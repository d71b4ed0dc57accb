//! A mapped region and the only place that turns its addresses into references.
//!
//! Every access to region memory goes through an atomic word (`AtomicU64`, `AtomicU32`,
//! `AtomicU8`), so two processes touching the same bytes never form a data race in Rust's
//! sense. Every offset is checked against the mapping's length and the word's alignment, so an
//! offset read from a region that another process corrupted yields `None`, never a wild pointer.
//!
//! One exception, for speed: the journal writer copies payloads into (and hands out `&mut [u8]`
//! to) the uncommitted part of its data area with [`Mapping::bytes_mut`]. Readers never read
//! that part before it is committed (persisted journals), or read it with atomic loads and
//! discard what they read if the writer lapped them (ring journals); see `journal/mod.rs`.

use std::io;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering, fence};

use crate::os::sigbus;
use crate::os::{AsHandle, SharedMap};

/// A `#[repr(C)]` view of a structure in a region ([`Mapping::view`]): the common header, the
/// slot table header and slot heads, the candle header, index and block headers.
///
/// # Safety
///
/// Implement it only for a `#[repr(C)]` struct whose fields are all atomic integers
/// (`AtomicU8/U32/U64`) or arrays of them, with no padding (assert the size), so that every bit
/// pattern of the bytes is a valid value and every access is atomic.
pub(crate) unsafe trait AtomicView: Sized {}

/// A shared mapping of a whole region file.
///
/// Registered with the SIGBUS handler for as long as it lives (see `os/sigbus.rs`): if another
/// process truncates the file, an access past the new end completes on zero pages and
/// [`Mapping::truncated`] turns true.
#[derive(Debug)]
pub(crate) struct Mapping {
    map: SharedMap,
    /// The registration, `None` when the handler is disabled. Declared after `map`, but
    /// removed by `Drop::drop`, which runs before any field is dropped (so before the unmap).
    guard: Option<&'static sigbus::Slot>,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Unregister before `map` unmaps, so the handler never replaces a range that is no
        // longer ours.
        if let Some(slot) = self.guard {
            sigbus::unregister(slot);
        }
    }
}

impl Mapping {
    /// Maps `len` bytes of `fd` shared, read-only unless `writable`.
    ///
    /// The caller passes the length `fstat` reported, so no page of the mapping lies past the end
    /// of the file (the first cause of SIGBUS).
    pub(crate) fn new(
        fd: impl AsHandle,
        len: usize,
        writable: bool,
        populate: bool,
    ) -> io::Result<Self> {
        Self::new_at(fd, 0, len, writable, populate)
    }

    /// Maps `len` bytes of `fd` from `offset` (a multiple of the page size).
    pub(crate) fn new_at(
        fd: impl AsHandle,
        offset: u64,
        len: usize,
        writable: bool,
        populate: bool,
    ) -> io::Result<Self> {
        let map = SharedMap::new(fd, offset, len, writable, populate)?;
        let (base, len) = (map.as_ptr(), map.len());
        let guard = sigbus::register(base, len, writable);
        Ok(Self { map, guard })
    }

    /// Whether another process truncated the file under this mapping: the SIGBUS handler then
    /// replaced it with zero pages, so what was read from it since is not data.
    ///
    /// Call it after the loads whose result it vouches for and before returning them. One
    /// Relaxed load of a process-wide counter (0 until some mapping is truncated) on the fast
    /// path. The Acquire fence keeps the loads before it from moving after the check (on
    /// x86-64 it costs nothing but the compiler's freedom to reorder).
    #[inline]
    pub(crate) fn truncated(&self) -> bool {
        fence(Ordering::Acquire);
        sigbus::any_truncated() && self.marked()
    }

    /// This mapping's own truncation flag, without the fence and the process-wide fast check
    /// of [`Mapping::truncated`] (for callers that did those already).
    #[inline]
    pub(crate) fn marked(&self) -> bool {
        self.guard.is_some_and(sigbus::Slot::truncated)
    }

    #[inline]
    fn base(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// Length of the mapping in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether stores are allowed (readers map read-only and must never store).
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        self.map.writable()
    }

    /// Checks that `[off, off + size * count)` lies inside the mapping and that `off` is aligned
    /// to `align`, then returns the address of `off`.
    #[inline]
    fn checked(&self, off: usize, size: usize, count: usize, align: usize) -> Option<*const u8> {
        let end = size.checked_mul(count)?.checked_add(off)?;
        if end > self.len() || off % align != 0 {
            return None;
        }
        // `off < len` (or the range is empty and `off <= len`): in bounds of the same allocation.
        Some(self.base().wrapping_add(off))
    }

    /// The 64-bit word at `off`, or `None` if it is out of bounds or misaligned.
    #[inline]
    pub(crate) fn u64_at(&self, off: usize) -> Option<&AtomicU64> {
        let p = self.checked(off, 8, 1, 8)?;
        // SAFETY: (1) `checked` proved `p..p+8` lies inside the mapping, which lives as long as
        // `&self`; (2) `p` is 8-aligned (the mapping is page-aligned and `off % 8 == 0`);
        // (3) `AtomicU64` has the size, alignment and bit validity of `u64`, and every bit
        // pattern is a valid u64; (4) other processes may change the word concurrently, which is
        // what an atomic is for. Loads from a read-only mapping are allowed for atomics up to the
        // native word size; stores are only made through writable mappings (see `writable`).
        Some(unsafe { &*p.cast::<AtomicU64>() })
    }

    /// The 32-bit word at `off`, or `None` if it is out of bounds or misaligned.
    #[inline]
    pub(crate) fn u32_at(&self, off: usize) -> Option<&AtomicU32> {
        let p = self.checked(off, 4, 1, 4)?;
        // SAFETY: as in `u64_at`, for a 4-byte, 4-aligned word.
        Some(unsafe { &*p.cast::<AtomicU32>() })
    }

    /// Stores `v` (Relaxed) in the 32-bit word at `off`; `None` if it is out of bounds,
    /// misaligned, or the mapping is read-only.
    #[inline]
    pub(crate) fn store_u32(&self, off: usize, v: u32) -> Option<()> {
        self.writable().then_some(())?;
        self.u32_at(off)?.store(v, Ordering::Relaxed);
        Some(())
    }

    /// The `#[repr(C)]` layout `T` at `off` (a table or block header), or `None` if it is out of
    /// bounds or misaligned for `T`.
    #[inline]
    pub(crate) fn view<T: AtomicView>(&self, off: usize) -> Option<&T> {
        let p = self.checked(off, size_of::<T>(), 1, align_of::<T>())?;
        // SAFETY: as in `u64_at`: (1) `p..p + size_of::<T>()` lies inside the mapping, which
        // lives as long as `&self`; (2) `p` is aligned for `T` (checked; the mapping is
        // page-aligned); (3) `T: AtomicView` is made only of atomics, so every bit pattern is a
        // valid `T` and other processes changing it concurrently is what its atomics are for.
        // Stores are only made through writable mappings, as for `u64_at`.
        Some(unsafe { &*p.cast::<T>() })
    }

    /// `count` consecutive 64-bit words from `off`, or `None` if out of bounds or misaligned.
    #[inline]
    pub(crate) fn u64_slice(&self, off: usize, count: usize) -> Option<&[AtomicU64]> {
        let p = self.checked(off, 8, count, 8)?;
        // SAFETY: as in `u64_at`, for `count` consecutive words, all inside the mapping.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<AtomicU64>(), count) })
    }

    /// `len` bytes from `off` as atomic bytes, or `None` if out of bounds.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> Option<&[AtomicU8]> {
        let p = self.checked(off, 1, len, 1)?;
        // SAFETY: as in `u64_at`, for `len` bytes (alignment 1), all inside the mapping.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<AtomicU8>(), len) })
    }

    /// Copies `out.len()` 64-bit words from `off` (8-aligned) with `Relaxed` atomic loads.
    #[inline]
    pub(crate) fn copy_words(&self, off: usize, out: &mut [u64]) -> Option<()> {
        let src = self.u64_slice(off, out.len())?;
        for (o, w) in out.iter_mut().zip(src) {
            *o = w.load(Ordering::Relaxed);
        }
        Some(())
    }

    /// The bytes `[off, off + len)` for writing, or `None` if out of bounds or read-only.
    ///
    /// # Safety
    ///
    /// For as long as the returned slice lives, no other reference to these bytes may be used
    /// in this process, and no other process may access them except with atomic loads whose
    /// result it discards (the journal's uncommitted tail, owned by the writer-lock holder).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn bytes_mut(&self, off: usize, len: usize) -> Option<&mut [u8]> {
        if !self.writable() {
            return None;
        }
        let p = self.checked(off, 1, len, 1)?;
        // SAFETY: in bounds of a writable mapping that lives as long as `&self` (checked above);
        // exclusivity is the caller's contract (see # Safety).
        Some(unsafe { std::slice::from_raw_parts_mut(p.cast_mut(), len) })
    }

    /// Copies `len` bytes from `off` out of the mapping.
    pub(crate) fn read_bytes(&self, off: usize, len: usize) -> Option<Vec<u8>> {
        Some(
            self.bytes(off, len)?
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
        )
    }

    /// Copies `src` into the mapping at `off`. Returns `None` if out of bounds or read-only.
    pub(crate) fn write_bytes(&self, off: usize, src: &[u8]) -> Option<()> {
        if !self.writable() {
            return None;
        }
        for (dst, b) in self.bytes(off, src.len())?.iter().zip(src) {
            dst.store(*b, Ordering::Relaxed);
        }
        Some(())
    }
}
