//! Shared mappings of region files.

use std::io;
use std::os::fd::AsFd;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// A shared mapping of (part of) a file, read-only or read-write; unmapped on drop.
#[derive(Debug)]
pub(crate) enum SharedMap {
    ReadOnly(Mmap),
    ReadWrite(MmapMut),
}

impl SharedMap {
    /// Maps `len` bytes of `fd` from `offset` (a multiple of the page size), shared with every
    /// other process that maps the file; read-only unless `writable`; with `populate`, the
    /// pages are faulted in now rather than at first touch.
    ///
    /// Linux: `mmap(MAP_SHARED [| MAP_POPULATE], PROT_READ [| PROT_WRITE])` through memmap2.
    /// Returns `mmap`'s error (`EACCES` for a writable mapping of a read-only descriptor,
    /// `ENOMEM`, ...).
    pub(crate) fn new(
        fd: impl AsFd,
        offset: u64,
        len: usize,
        writable: bool,
        populate: bool,
    ) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let raw = fd.as_fd().as_raw_fd();
        let mut opts = MmapOptions::new();
        opts.offset(offset).len(len);
        if populate {
            opts.populate();
        }
        Ok(if writable {
            // SAFETY: memmap2 calls this unsafe because another process may change or truncate
            // the file under the mapping. Readers only use atomics on it; the writer also writes
            // its uncommitted journal tail through `bytes_mut` (see the module docs of
            // `mapping.rs`), which other processes that follow the protocol never read
            // non-atomically. The length comes from fstat, and shmbus never shrinks a region
            // (create reserves the full size). Threat model: processes of the same user may
            // corrupt the bytes (every offset read is bounds-checked, so that gives errors); one
            // that truncates the file makes the next access past its end fault with SIGBUS,
            // which shmbus's handler turns into zero pages and a `truncated` mark (see
            // `sigbus.rs`).
            Self::ReadWrite(unsafe { opts.map_mut(raw)? })
        } else {
            // SAFETY: as above; a read-only mapping is only ever loaded from.
            Self::ReadOnly(unsafe { opts.map(raw)? })
        })
    }

    /// The address of the first mapped byte.
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        match self {
            Self::ReadOnly(m) => m.as_ptr(),
            Self::ReadWrite(m) => m.as_ptr(),
        }
    }

    /// The mapping's length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::ReadOnly(m) => m.len(),
            Self::ReadWrite(m) => m.len(),
        }
    }

    /// Whether the mapping allows stores.
    #[inline]
    pub(crate) fn writable(&self) -> bool {
        matches!(self, Self::ReadWrite(_))
    }
}
