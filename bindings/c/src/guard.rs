//! The FFI boundary: every entry point runs inside [`call`] (errors become a status and a
//! thread-local message, panics are caught), and every pointer from C passes through one of the
//! checked helpers here before it is used.
//!
//! Handles are `Box<Tagged<T>>` turned into raw pointers: a `#[repr(C)]` struct whose first
//! field is a tag naming the handle's type. Every handle starts with its tag, so reading the tag
//! through any live handle pointer is in bounds; a handle of the wrong kind is then
//! `SHMBUS_BAD_HANDLE` instead of a misinterpreted object. (A handle used after its close is
//! beyond help, as after `free`: the tag is cleared on close, which catches the most common case
//! while the memory is not reused, but nothing can make it defined.)

use std::any::Any;
use std::ffi::{CStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::status::{Error, Result, ShmbusStatus, set_last_error};

/// Runs one entry point: `Ok(status)` is returned as is; an error or a panic becomes its status
/// with the message recorded for `shmbus_last_error()`. Nothing unwinds across the C boundary.
#[inline]
pub(crate) fn call(f: impl FnOnce() -> Result<ShmbusStatus>) -> ShmbusStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            set_last_error(&e.message, e.code);
            e.status
        }
        Err(payload) => {
            set_last_error(
                &format!(
                    "internal error in shmbus (please report it): {}",
                    panic_message(&*payload)
                ),
                None,
            );
            ShmbusStatus::ShmbusInternal
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Shorthand for a successful call.
pub(crate) const OK: Result<ShmbusStatus> = Ok(ShmbusStatus::ShmbusOk);

/// Shorthand for a successful call that had nothing to return.
pub(crate) const NO_DATA: Result<ShmbusStatus> = Ok(ShmbusStatus::ShmbusNoData);

/// Reads a NUL-terminated UTF-8 argument.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that stays valid and unchanged during the
/// call.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(Error::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller promises a NUL-terminated string valid for the call.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str()
        .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// A checked out-parameter: non-null and aligned. Written with [`Out::set`], never read (the
/// caller's memory may be uninitialised).
#[derive(Debug)]
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks an out-parameter that must be given.
    pub(crate) fn new(p: *mut T, what: &str) -> Result<Self> {
        Self::optional(p, what)?.ok_or_else(|| Error::invalid(format!("{what} is NULL")))
    }

    /// Checks an out-parameter that may be NULL (the caller does not want the value).
    pub(crate) fn optional(p: *mut T, what: &str) -> Result<Option<Self>> {
        if p.is_null() {
            return Ok(None);
        }
        if !p.is_aligned() {
            return Err(Error::invalid(format!(
                "{what} is not aligned to {} bytes",
                align_of::<T>()
            )));
        }
        Ok(Some(Self(p)))
    }

    /// Stores `value`.
    pub(crate) fn set(&self, value: T) {
        // SAFETY: non-null and aligned (checked in `optional`); the caller of the entry point
        // promises it points to writable memory for a `T`. `write` never reads the old value.
        unsafe { self.0.write(value) }
    }
}

/// Stores `value` into an optional out-parameter, if given.
pub(crate) fn set_opt<T>(out: &Option<Out<T>>, value: T) {
    if let Some(o) = out {
        o.set(value);
    }
}

/// A checked input array: `n` elements at `p` (`p` may be NULL when `n` is 0).
///
/// # Safety
///
/// Unless NULL, `p` points to `n` initialised `T`s that stay valid and unchanged during the call.
pub(crate) unsafe fn in_slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::invalid(format!(
            "{what} is NULL but its length is {n}"
        )));
    }
    if !p.is_aligned() {
        return Err(Error::invalid(format!(
            "{what} is not aligned to {} bytes",
            align_of::<T>()
        )));
    }
    if n.checked_mul(size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(Error::invalid(format!("{what}: length {n} is impossible")));
    }
    // SAFETY: non-null, aligned, size fits isize (checked above), and the caller promises `n`
    // initialised elements valid for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// A checked output array of `cap` elements at `p` (NULL allowed: a size query).
#[derive(Debug)]
pub(crate) struct OutSlice<T> {
    p: *mut T,
    cap: usize,
}

impl<T: Copy> OutSlice<T> {
    /// Checks the buffer; `None` when `p` is NULL.
    pub(crate) fn optional(p: *mut T, cap: usize, what: &str) -> Result<Option<Self>> {
        if p.is_null() {
            return Ok(None);
        }
        if !p.is_aligned() {
            return Err(Error::invalid(format!(
                "{what} is not aligned to {} bytes",
                align_of::<T>()
            )));
        }
        if cap
            .checked_mul(size_of::<T>())
            .is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(Error::invalid(format!(
                "{what}: capacity {cap} is impossible"
            )));
        }
        Ok(Some(Self { p, cap }))
    }

    /// Copies `items` to the buffer, or fails with `SHMBUS_BUFFER_TOO_SMALL`.
    #[inline]
    pub(crate) fn fill(&self, items: &[T], what: &str) -> Result<()> {
        if items.len() > self.cap {
            return Err(Error::new(
                ShmbusStatus::ShmbusBufferTooSmall,
                format!("{what} holds {} but {} are needed", self.cap, items.len()),
            ));
        }
        // SAFETY: the buffer is non-null and aligned (checked in `optional`), the caller
        // promises `cap` writable elements, and `items.len() <= cap`; our `items` cannot overlap
        // memory the caller handed us to write (they are the library's own copies).
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), self.p, items.len()) };
        Ok(())
    }
}

/// A handle type: its tag and the opaque type C sees. `Send`: C may hand a handle from one
/// thread to another (the contract is one thread at a time, not always the same one).
pub(crate) trait Handle: Sized + Send {
    /// A value no other handle type uses.
    const TAG: u64;
    /// For messages: `"slot reader"`, ...
    const NAME: &'static str;
    /// The opaque C type.
    type Opaque;
}

/// What a handle pointer points to.
#[repr(C)]
struct Tagged<T> {
    tag: u64,
    value: T,
}

/// A cleared tag: the handle was closed.
const CLOSED: u64 = 0xdead_dead_dead_dead;

/// Hands `value` to C as a new handle.
pub(crate) fn into_raw<T: Handle>(value: T) -> *mut T::Opaque {
    Box::into_raw(Box::new(Tagged { tag: T::TAG, value })).cast()
}

/// Stores a new handle into an out-parameter. The out-parameter is checked before the object is
/// made (so a bad pointer never leaks a writer lock); see [`Out`].
pub(crate) fn give<T: Handle>(out: &Out<*mut T::Opaque>, value: T) {
    out.set(into_raw(value));
}

/// Checks that `p` is a live handle of type `T` and borrows it.
///
/// # Safety
///
/// `p` is NULL, or a pointer returned by one of this library's open or create functions and not
/// yet closed, used by one thread at a time.
#[inline]
pub(crate) unsafe fn borrow<'a, T: Handle>(p: *mut T::Opaque) -> Result<&'a mut T> {
    let tagged = check::<T>(p)?;
    // SAFETY: `check` confirmed by the tag that this is a live `Tagged<T>`, and the caller
    // promises no other thread uses the handle meanwhile, so the borrow is exclusive.
    Ok(unsafe { &mut (*tagged).value })
}

#[inline]
fn check<T: Handle>(p: *mut T::Opaque) -> Result<*mut Tagged<T>> {
    if p.is_null() {
        return Err(Error::invalid(format!("the {} handle is NULL", T::NAME)));
    }
    let bad = |what: &str| {
        Error::new(
            ShmbusStatus::ShmbusBadHandle,
            format!("not a {} handle: {what}", T::NAME),
        )
    };
    if !p.cast::<u64>().is_aligned() {
        return Err(bad("the pointer is misaligned"));
    }
    // SAFETY: every handle this library makes is a `Tagged<_>` (repr(C), tag first, at least 8
    // bytes), and the caller promises `p` is one of them: the first 8 bytes are its tag.
    let tag = unsafe { p.cast::<u64>().read() };
    if tag == CLOSED {
        return Err(bad("it was closed"));
    }
    if tag != T::TAG {
        return Err(bad("it is a handle of another kind"));
    }
    Ok(p.cast())
}

/// Closes a handle: NULL is ignored (as `free`), a handle of another kind is refused.
///
/// # Safety
///
/// As [`borrow`]; the handle must not be used afterwards.
pub(crate) unsafe fn close<T: Handle>(p: *mut T::Opaque) -> Result<ShmbusStatus> {
    if p.is_null() {
        return OK;
    }
    let tagged = check::<T>(p)?;
    // SAFETY: `check` confirmed a live `Tagged<T>` made by `into_raw` (a `Box`), and the caller
    // hands its ownership back: clear the tag (use-after-close is then caught while the memory
    // is not reused) and drop the box.
    unsafe {
        (*tagged).tag = CLOSED;
        drop(Box::from_raw(tagged));
    }
    OK
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A(u32);
    impl Handle for A {
        const TAG: u64 = 1;
        const NAME: &'static str = "A";
        type Opaque = u8;
    }
    struct B;
    impl Handle for B {
        const TAG: u64 = 2;
        const NAME: &'static str = "B";
        type Opaque = u8;
    }

    #[test]
    fn handles_of_another_kind_are_refused() {
        let a = into_raw(A(7));
        // SAFETY: `a` is a live handle made just above.
        assert_eq!(unsafe { borrow::<A>(a) }.unwrap().0, 7);
        // SAFETY: a live handle of another kind: the tag check must refuse it.
        let e = unsafe { borrow::<B>(a) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusBadHandle);
        assert!(e.message.contains("another kind"), "{}", e.message);
        // SAFETY: as above.
        assert!(unsafe { close::<B>(a) }.is_err());
        // SAFETY: `a` is live and of kind A; closed once.
        assert!(unsafe { close::<A>(a) }.is_ok());
        // SAFETY: NULL is always accepted.
        let e = unsafe { borrow::<A>(std::ptr::null_mut()) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusInvalidArgument);
        // SAFETY: as above.
        assert!(unsafe { close::<A>(std::ptr::null_mut()) }.is_ok());
    }

    #[test]
    fn a_forged_handle_is_refused() {
        // Eight bytes that look like no handle.
        let mut fake = [0x55u64; 4];
        let p = fake.as_mut_ptr().cast::<u8>();
        // SAFETY: readable memory that starts with a tag of no kind.
        let e = unsafe { borrow::<A>(p) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusBadHandle);
        // Misaligned: refused before anything is read.
        // SAFETY: the pointer is refused by the alignment check.
        let e = unsafe { borrow::<A>(p.wrapping_add(1)) }.err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusBadHandle);
    }

    #[test]
    fn panics_become_an_internal_error_with_the_message() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let s = call(|| panic!("boom {}", 42));
        std::panic::set_hook(prev);
        assert_eq!(s, ShmbusStatus::ShmbusInternal);
        // SAFETY: the library's own NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(crate::status::shmbus_last_error()) };
        assert!(msg.to_str().unwrap().contains("boom 42"), "{msg:?}");
    }

    #[test]
    fn slices_and_strings_are_checked() {
        // SAFETY: NULL with length 0 is the empty slice.
        let empty = unsafe { in_slice::<u64>(std::ptr::null(), 0, "x") };
        assert!(empty.unwrap().is_empty());
        // SAFETY: NULL with a length is refused before use.
        let e = unsafe { in_slice::<u64>(std::ptr::null(), 3, "x") }
            .err()
            .unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusInvalidArgument);
        let bytes = [0u8; 16];
        let mis = bytes.as_ptr().wrapping_add(1).cast::<u64>();
        // SAFETY: refused by the alignment check before use.
        assert!(unsafe { in_slice(mis, 1, "x") }.is_err());
        // SAFETY: a NUL-terminated string that is not UTF-8.
        let e = unsafe { str_arg(c"\xff\xfe".as_ptr(), "name") }
            .err()
            .unwrap();
        assert!(e.message.contains("UTF-8"), "{}", e.message);
        let mut two = [0u64; 2];
        let out = OutSlice::optional(two.as_mut_ptr(), 2, "buf")
            .unwrap()
            .unwrap();
        let e = out.fill(&[1, 2, 3], "buf").err().unwrap();
        assert_eq!(e.status, ShmbusStatus::ShmbusBufferTooSmall);
    }
}
