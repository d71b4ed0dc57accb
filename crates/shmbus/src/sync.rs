//! The atomics the shared-memory protocols are written with: std's normally, loom's when the
//! crate is built with `--cfg loom` (as tokio's `loom` shim does), so that the loom tests run the
//! production protocol code rather than a copy of it.
//!
//! Memory mapped from a region is always made of std atomics (loom cannot see into a mapping),
//! so a protocol that must run on both is written over [`Word`], which both kinds of `AtomicU64`
//! implement; it stays generic (monomorphised, no `dyn`) and costs nothing in production.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, fence};
// The protocols' own words are a mapping's (std); only the loom models make new ones.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::atomic::{AtomicU64, fence};
// loom re-exports std's `Ordering`: one type for both.
pub(crate) use std::sync::atomic::Ordering;

/// A 64-bit atomic word in shared memory: a mapped region's (`std`) or, under loom, a model's.
pub(crate) trait Word {
    fn load(&self, order: Ordering) -> u64;
    fn store(&self, v: u64, order: Ordering);
    fn swap(&self, v: u64, order: Ordering) -> u64;
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64>;
}

impl Word for std::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        self.load(order)
    }
    #[inline(always)]
    fn store(&self, v: u64, order: Ordering) {
        self.store(v, order);
    }
    #[inline(always)]
    fn swap(&self, v: u64, order: Ordering) -> u64 {
        self.swap(v, order)
    }
    #[inline(always)]
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.compare_exchange(current, new, success, failure)
    }
}

#[cfg(loom)]
impl Word for loom::sync::atomic::AtomicU64 {
    fn load(&self, order: Ordering) -> u64 {
        self.load(order)
    }
    fn store(&self, v: u64, order: Ordering) {
        self.store(v, order);
    }
    fn swap(&self, v: u64, order: Ordering) -> u64 {
        self.swap(v, order)
    }
    fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.compare_exchange(current, new, success, failure)
    }
}
