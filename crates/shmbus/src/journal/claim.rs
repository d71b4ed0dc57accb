//! The reader registry's entry protocol (docs/FORMAT.md 7.4): how a reader claims an entry,
//! how a lister copies one consistently, and how the owner releases it. Every load, store and
//! fence of it is here, written once over [`Entry`], so the loom tests (`loom_readers.rs`) run
//! this very code on loom atomics, as `publish.rs` is run by `loom_publish.rs`.
//!
//! ```text
//! claimer (C)                                     lister (L)
//! w = state.load(Acquire)                   (C1)  s1 = state.load(Acquire)     (L1) <- (C4)
//! state.CAS(w, CLAIMING|gen+1|pid, Relaxed) (C2)  if s1 is not ACTIVE: skip
//! fence(Release)                            (C3)  fields: load(Relaxed)
//! fields: store(Relaxed)                          fence(Acquire)               (L2) <- (C3)
//! state.store(ACTIVE|gen+1|pid, Release)    (C4)  s2 = state.load(Relaxed)
//!                                                 valid iff s1 == s2
//! owner, when done:
//! state.CAS(active, FREE|gen, Release)      (R)   pairs with the next claimer's (C1)
//! ```
//!
//! That is the seqlock of `seqlock.rs` with the state word as its sequence: a lister that saw
//! any field of a newer claim sees the state word changed and retries. The state word carries
//! the owner's pid, so an entry whose owner died (even between (C2) and (C4)) is reclaimable.

use crate::sync::{Ordering, Word, fence};

// The state word: pid in bits 0..32, state in bits 32..34, generation in bits 34..64.
pub(crate) const FREE: u64 = 0;
pub(crate) const CLAIMING: u64 = 1;
pub(crate) const ACTIVE: u64 = 2;

/// The generations a state word counts (30 bits), wrapping.
const GENERATIONS: u64 = 1 << 30;

pub(crate) const fn state_of(w: u64) -> u64 {
    (w >> 32) & 3
}
pub(crate) const fn pid_of(w: u64) -> u32 {
    w as u32
}
pub(crate) const fn generation_of(w: u64) -> u64 {
    w >> 34
}
pub(crate) const fn word(generation: u64, state: u64, pid: u32) -> u64 {
    (generation << 34) | (state << 32) | pid as u64
}

/// One registry entry: a mapped one in production, loom atomics in the loom tests.
pub(crate) trait Entry {
    type Word: Word;
    /// What a claim stores and a lister copies besides the state word.
    type Fields;
    /// The state word.
    fn state(&self) -> &Self::Word;
    /// Stores the fields, each with `Relaxed` stores (the protocol orders them).
    fn store_fields(&self, f: &Self::Fields);
    /// Loads the fields, each with `Relaxed` loads (the protocol validates the copy).
    fn load_fields(&self) -> Self::Fields;
    /// Loom tests only: leave out the Release fence (C3), to show that loom catches it.
    #[cfg(loom)]
    fn without_claim_fence(&self) -> bool {
        false
    }
}

/// Claims `e` for `pid` if its state word says it is takeable (`takeable(word)`: free, or its
/// owner dead), storing `fields`. Returns the state word it stored (to release it with), or
/// `None` if the entry is not takeable or another claimer won it.
pub(crate) fn claim<E: Entry + ?Sized>(
    e: &E,
    pid: u32,
    fields: &E::Fields,
    takeable: impl FnOnce(u64) -> bool,
) -> Option<u64> {
    let state = e.state();
    // (C1) pairs with (C4) and (R): a free entry's old fields are not ours to keep anyway, so
    // this only orders our later loads.
    let w = state.load(Ordering::Acquire);
    if !takeable(w) {
        return None;
    }
    let generation = generation_of(w).wrapping_add(1) % GENERATIONS;
    let claiming = word(generation, CLAIMING, pid);
    // (C2) only one claimer wins the entry. Relaxed: (C3) orders it before our stores.
    state
        .compare_exchange(w, claiming, Ordering::Relaxed, Ordering::Relaxed)
        .ok()?;
    #[cfg(loom)]
    let fence_it = !e.without_claim_fence();
    #[cfg(not(loom))]
    let fence_it = true;
    if fence_it {
        // (C3) pairs with the lister's Acquire fence (L2): a lister that sees any store below
        // sees the state word changed since its (L1), and discards its copy.
        fence(Ordering::Release);
    }
    // Relaxed: published by (C4); a lister's (L2) catches a copy torn by a newer claim.
    e.store_fields(fields);
    let active = word(generation, ACTIVE, pid);
    // (C4) pairs with the lister's Acquire load (L1): who sees ACTIVE sees the fields.
    state.store(active, Ordering::Release);
    Some(active)
}

/// What one attempt to copy an entry found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Listing<F> {
    /// The entry is not active (free, or being claimed).
    Inactive,
    /// The state word changed during the copy: try again.
    Changed,
    /// The fields of the claim whose state word this is.
    Active(u64, F),
}

/// One attempt to copy the fields of `e` consistently with its state word.
pub(crate) fn copy<E: Entry + ?Sized>(e: &E) -> Listing<E::Fields> {
    let state = e.state();
    // (L1) pairs with (C4).
    let s1 = state.load(Ordering::Acquire);
    if state_of(s1) != ACTIVE {
        return Listing::Inactive;
    }
    // Relaxed: ordered after (L1) by its Acquire, validated by (L2) below.
    let fields = e.load_fields();
    // (L2) pairs with (C3).
    fence(Ordering::Acquire);
    // Relaxed: ordered after the field loads by (L2).
    if state.load(Ordering::Relaxed) != s1 {
        return Listing::Changed;
    }
    Listing::Active(s1, fields)
}

/// Frees `e` if it still holds `active` (the word [`claim`] returned): an entry that someone
/// took from its owner (who thought it dead: pid reuse across namespaces) is left to them.
pub(crate) fn release<E: Entry + ?Sized>(e: &E, active: u64) {
    let free = word(generation_of(active), FREE, 0);
    // (R) Release pairs with the next claimer's Acquire (C1).
    let _ = e
        .state()
        .compare_exchange(active, free, Ordering::Release, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_words_round_trip() {
        let w = word(5, ACTIVE, 4_000_000);
        assert_eq!(
            (generation_of(w), state_of(w), pid_of(w)),
            (5, ACTIVE, 4_000_000)
        );
        let w = word((1 << 30) - 1, CLAIMING, u32::MAX);
        assert_eq!(
            (generation_of(w), state_of(w), pid_of(w)),
            ((1 << 30) - 1, CLAIMING, u32::MAX)
        );
    }
}
