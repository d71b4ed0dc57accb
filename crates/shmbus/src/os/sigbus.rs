//! No SIGBUS when another process truncates a mapped region.
//!
//! A process that may write a region's file (a group member of a `--group` region, the owner of
//! a region read with `--allow-foreign-owner`) can `truncate` it while others have it mapped.
//! The kernel then raises SIGBUS on the next access of every page past the new end of file, in
//! every process that maps it, and the default action kills them.
//!
//! shmbus installs one process-wide SIGBUS handler (before its first mapping is registered,
//! unless `SHMBUS_NO_SIGBUS_HANDLER=1`) and keeps a registry of its live mappings. When a
//! SIGBUS's faulting address lies in a registered mapping, the handler marks that mapping
//! truncated, then maps private anonymous zero pages over the whole of it (same address, same
//! protection): the faulting access completes on a zero page and every later access reads zeros
//! (or writes to memory nobody else sees). Every operation that touched the mapping checks the
//! mark before it returns data or success ([`crate::mapping::Mapping::truncated`]) and returns
//! [`crate::RegionError::TruncatedWhileMapped`] instead, so zeros are never returned as data.
//!
//! Any other SIGBUS goes to the action that was installed before ours: its handler is called
//! with the same arguments (with its signal mask); a default action is restored and the fault
//! re-raised, so the process dies by SIGBUS as it would have without shmbus; an ignored signal
//! stays ignored (the kernel kills anyway on a real fault it cannot deliver).
//!
//! The registry is a grow-only list of fixed-size chunks of slots. A slot's `state` word is a
//! generation (bits 2..) and a phase (bits 0..2: free, claimed, live): its owner claims it with
//! a compare-and-swap, writes its fields, then publishes it live with a Release store; it
//! unregisters by storing the free phase (SeqCst) before the mapping is unmapped. The handler
//! reads a slot like a seqlock (state, fields, Acquire fence, state again) and acts only on a
//! slot that was live with the same generation throughout. Chunks are allocated when the
//! registry is full (never in the handler) and never freed.

use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

/// The environment variable that disables the handler (for applications that own SIGBUS).
pub const NO_HANDLER_ENV: &str = "SHMBUS_NO_SIGBUS_HANDLER";

const FREE: u64 = 0;
const CLAIMED: u64 = 1;
const LIVE: u64 = 2;
const PHASE: u64 = 3;

const CHUNK: usize = 64;

/// One registered mapping.
#[derive(Debug)]
pub(crate) struct Slot {
    state: AtomicU64,
    base: AtomicUsize,
    len: AtomicUsize,
    writable: AtomicBool,
    truncated: AtomicBool,
}

impl Slot {
    const fn new() -> Self {
        Self {
            state: AtomicU64::new(FREE),
            base: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
            writable: AtomicBool::new(false),
            truncated: AtomicBool::new(false),
        }
    }

    /// Whether the handler replaced this mapping with zero pages.
    #[inline]
    pub(crate) fn truncated(&self) -> bool {
        self.truncated.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Chunk {
    slots: [Slot; CHUNK],
    next: AtomicPtr<Chunk>,
}

impl Chunk {
    const fn new() -> Self {
        Self {
            slots: [const { Slot::new() }; CHUNK],
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    fn next(&self) -> Option<&'static Chunk> {
        let p = self.next.load(Ordering::Acquire);
        // SAFETY: `next` is null or a pointer from `Box::leak` (see `register`), published with
        // a Release compare-and-swap and never freed, so it is valid for `'static`.
        unsafe { p.as_ref() }
    }
}

static HEAD: Chunk = Chunk::new();

/// Mappings the handler has replaced so far, in the whole process: 0 on the fast path, so an
/// operation's check is one load of a word that never changes.
static TRUNCATIONS: AtomicU64 = AtomicU64::new(0);

/// The action installed before ours (a leaked `sigaction`), null until installed.
static PREVIOUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(ptr::null_mut());

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether any shmbus mapping of this process was truncated under it (one Relaxed load).
#[inline]
pub(crate) fn any_truncated() -> bool {
    TRUNCATIONS.load(Ordering::Relaxed) != 0
}

/// Installs shmbus's SIGBUS handler now (it is otherwise installed when the first region is
/// mapped) and says whether it is installed: `false` when `SHMBUS_NO_SIGBUS_HANDLER` is set
/// (to anything but `0` or nothing) or `sigaction` failed.
///
/// An application that installs its own SIGBUS handler should do so after this call and pass
/// the faults it does not handle to the action it replaced (shmbus's), or shmbus cannot keep
/// its no-SIGBUS promise; shmbus itself passes every fault outside its mappings on to the
/// action installed before it.
pub fn install() -> bool {
    INSTALL.call_once(|| {
        if std::env::var_os(NO_HANDLER_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
            return;
        }
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if let Ok(page) = usize::try_from(page) {
            if page.is_power_of_two() {
                PAGE_SIZE.store(page, Ordering::Relaxed);
            }
        }
        // SAFETY: an all-zero `sigaction` is a valid value (SIG_DFL, empty mask, no flags).
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying the current action; `old` is a valid out-pointer.
        if unsafe { libc::sigaction(libc::SIGBUS, ptr::null(), &mut old) } != 0 {
            return;
        }
        // The previous action is known before ours can run (a handler that ran in between
        // would find no previous action and restore the default one).
        let prev = Box::leak(Box::new(old));
        PREVIOUS.store(prev, Ordering::SeqCst);
        // SAFETY: as above.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = handler as *const () as libc::sighandler_t;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
        // SAFETY: `new.sa_mask` is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut new.sa_mask) };
        // The action replaced is the one read above unless another thread changed it in
        // between (then that thread's action is lost to the chain, as with any two
        // uncoordinated `sigaction` calls). Not written through `prev`: our handler may read it.
        // SAFETY: zeroed as above, an out-pointer for the replaced action.
        let mut replaced: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `new` is fully initialised and its handler is an `extern "C"` function with
        // the SA_SIGINFO signature that only makes async-signal-safe calls (see `handler`).
        if unsafe { libc::sigaction(libc::SIGBUS, &new, &mut replaced) } == 0 {
            ENABLED.store(true, Ordering::SeqCst);
        }
    });
    ENABLED.load(Ordering::Relaxed)
}

/// Registers a live mapping of `len` bytes at `base`. Installs the handler first (once).
/// `None` when the handler is disabled.
pub(crate) fn register(base: *const u8, len: usize, writable: bool) -> Option<&'static Slot> {
    if !install() {
        return None;
    }
    let mut chunk: &'static Chunk = &HEAD;
    loop {
        for slot in &chunk.slots {
            let s = slot.state.load(Ordering::Relaxed);
            if s & PHASE != FREE {
                continue;
            }
            let claimed = (s & !PHASE).wrapping_add(4) | CLAIMED;
            if slot
                .state
                .compare_exchange(s, claimed, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // Orders the claim before the field stores (the seqlock's writer side): a
                // handler that reads any new field then sees the claim when it re-reads `state`.
                fence(Ordering::Release);
                slot.base.store(base as usize, Ordering::Relaxed);
                slot.len.store(len, Ordering::Relaxed);
                slot.writable.store(writable, Ordering::Relaxed);
                slot.truncated.store(false, Ordering::Relaxed);
                // Pairs with the handler's Acquire load of `state`: it sees these fields.
                slot.state
                    .store((claimed & !PHASE) | LIVE, Ordering::Release);
                return Some(slot);
            }
        }
        chunk = match chunk.next() {
            Some(next) => next,
            None => {
                let fresh: *mut Chunk = Box::leak(Box::new(Chunk::new()));
                match chunk.next.compare_exchange(
                    ptr::null_mut(),
                    fresh,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // SAFETY: just leaked, now published and never freed.
                    Ok(_) => unsafe { &*fresh },
                    Err(other) => {
                        // SAFETY: `fresh` was never shared: reclaim it. `other` was published
                        // by another thread's successful compare-and-swap of a leaked chunk.
                        unsafe {
                            drop(Box::from_raw(fresh));
                            &*other
                        }
                    }
                }
            }
        };
    }
}

/// Removes a registration; called before the mapping is unmapped.
pub(crate) fn unregister(slot: &'static Slot) {
    let s = slot.state.load(Ordering::Relaxed);
    slot.state.store(s & !PHASE, Ordering::SeqCst);
}

/// The registered mapping holding `addr`: its slot, page-rounded start and length, protection.
/// Async-signal-safe: atomics only.
fn find(addr: usize) -> Option<(&'static Slot, usize, usize, bool)> {
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    let mut chunk: Option<&'static Chunk> = Some(&HEAD);
    while let Some(c) = chunk {
        for slot in &c.slots {
            let s1 = slot.state.load(Ordering::Acquire);
            if s1 & PHASE != LIVE {
                continue;
            }
            let base = slot.base.load(Ordering::Relaxed);
            let len = slot.len.load(Ordering::Relaxed);
            let writable = slot.writable.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if slot.state.load(Ordering::Relaxed) != s1 {
                continue;
            }
            let start = base & !(page - 1);
            let end = base.saturating_add(len).saturating_add(page - 1) & !(page - 1);
            if (start..end).contains(&addr) {
                return Some((slot, start, end - start, writable));
            }
        }
        chunk = c.next();
    }
    None
}

/// The SIGBUS handler. Only async-signal-safe operations: atomic loads and stores, and the
/// `mmap`, `sigaction`, `pthread_sigmask` and `raise` system calls.
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // si_code > 0: raised by the kernel for a fault (si_addr is meaningful); <= 0: sent by a
    // process (kill, sigqueue, raise).
    let fault = !info.is_null() && {
        // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
        unsafe { (*info).si_code > 0 }
    };
    if fault {
        // SAFETY: for a SIGBUS fault the kernel fills si_addr.
        let addr = unsafe { (*info).si_addr() } as usize;
        if let Some((slot, start, len, writable)) = find(addr) {
            // Mark first: a thread that reads a zero page of the new mapping then finds the mark
            // (its check follows its loads, after an Acquire fence; mmap is a full barrier).
            slot.truncated.store(true, Ordering::SeqCst);
            TRUNCATIONS.fetch_add(1, Ordering::SeqCst);
            let prot = if writable {
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE
            } else {
                rustix::mm::ProtFlags::READ
            };
            // SAFETY: `[start, start + len)` is exactly the (page-rounded) range of a live shmbus
            // mapping: the slot was live with the same generation before and after its fields
            // were read, and a mapping is unregistered before it is unmapped. It stays alive
            // while we replace it: the faulting access borrows its `Mapping`, so its `Drop`
            // (which unregisters, then unmaps) cannot run until that access has completed.
            // Replacing shared file pages with private zero pages at the same address and
            // protection keeps every reference into it valid (they see zeros from now on; no
            // Rust reference into region memory assumes its contents: all are atomics, or the
            // writer's exclusive `&mut [u8]` of its own uncommitted frame). The call is a raw
            // system call: async-signal-safe.
            let mapped = unsafe {
                rustix::mm::mmap_anonymous(
                    start as *mut libc::c_void,
                    len,
                    prot,
                    rustix::mm::MapFlags::PRIVATE
                        | rustix::mm::MapFlags::FIXED
                        | rustix::mm::MapFlags::NORESERVE,
                )
            };
            if mapped.is_ok() {
                // Return: the faulting instruction runs again, on a zero page.
                return;
            }
            // No memory for the zero pages: fall through to the previous action. (NORESERVE:
            // a large writable mapping is not refused by overcommit accounting.)
        }
    }
    chain(sig, info, ctx, fault);
}

/// Passes a SIGBUS that is not ours to the action installed before ours.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void, fault: bool) {
    let prev = PREVIOUS.load(Ordering::SeqCst);
    // SAFETY: null or the leaked `sigaction` written before our handler was installed.
    let prev = unsafe { prev.as_ref() };
    let action = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if action == libc::SIG_IGN {
        if !fault {
            return; // a sent SIGBUS that the application ignores stays ignored
        }
        restore_default_and_reraise(sig, fault);
        return;
    }
    if action == libc::SIG_DFL {
        restore_default_and_reraise(sig, fault);
        return;
    }
    let Some(prev) = prev else { return };
    // Run the previous handler as the kernel would have: its mask blocked (and the signal
    // itself unless SA_NODEFER), restored afterwards.
    // SAFETY: zeroed sigset_t values are then initialised by the calls below; pthread_sigmask
    // is async-signal-safe and only changes this thread's mask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut mask = prev.sa_mask;
    if prev.sa_flags & libc::SA_NODEFER == 0 {
        // SAFETY: `mask` is a valid sigset_t.
        unsafe { libc::sigaddset(&mut mask, sig) };
    }
    // SAFETY: valid pointers to sigset_t values.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &mask, &mut old) };
    if prev.sa_flags & libc::SA_RESETHAND != 0 {
        // SAFETY: restoring the default action; sigaction is async-signal-safe.
        unsafe { reset_default(sig) };
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: an SA_SIGINFO action's sa_sigaction is a three-argument handler, and we pass
        // it the arguments the kernel passed us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(action) };
        f(sig, info, ctx);
    } else {
        // SAFETY: without SA_SIGINFO, sa_sigaction is a one-argument `sa_handler`.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
        f(sig);
    }
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut()) };
}

/// Restores SIG_DFL. A fault then happens again when the handler returns (and kills, with a
/// core dump where enabled, as if shmbus had never been there); a sent signal is raised again.
fn restore_default_and_reraise(sig: libc::c_int, fault: bool) {
    // SAFETY: sigaction is async-signal-safe.
    unsafe { reset_default(sig) };
    if !fault {
        // SAFETY: raise is async-signal-safe; SIGBUS is not blocked (SA_NODEFER).
        unsafe { libc::raise(sig) };
    }
}

/// # Safety
///
/// Replaces the process's action for `sig` with the default one.
unsafe fn reset_default(sig: libc::c_int) {
    // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask and no flags.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; a null old-action pointer is allowed.
    unsafe { libc::sigaction(sig, &dfl, ptr::null_mut()) };
}
