//! The writer lock: one exclusive lock per region file (or journal directory), held by its
//! writer for as long as it lives.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::FlockOperation;

/// Tries to take the exclusive writer lock. `Ok(false)` if another open file holds it.
///
/// Linux: `flock(LOCK_EX | LOCK_NB)`; `EWOULDBLOCK` gives `Ok(false)`, other errors `Err`.
/// `flock` locks belong to the open file description, and the kernel drops them when the last
/// descriptor closes, which includes the death of the process by any signal.
pub(crate) fn try_lock_exclusive(fd: impl AsFd) -> io::Result<bool> {
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether some open file description holds the exclusive writer lock of this file.
///
/// Linux: takes and at once drops a shared lock on `fd` (`flock(LOCK_SH | LOCK_NB)`, then
/// `LOCK_UN`); `fd` must not hold the writer lock itself. `Ok(true)` if the shared lock was
/// refused with `EWOULDBLOCK`.
pub(crate) fn writer_lock_held(fd: impl AsFd) -> io::Result<bool> {
    let fd = fd.as_fd();
    match rustix::fs::flock(fd, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            rustix::fs::flock(fd, FlockOperation::Unlock)?;
            Ok(false)
        }
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
