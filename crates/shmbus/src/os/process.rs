//! Processes and users: who we are, and whether another process still lives.

/// This process's id (`getpid`).
pub(crate) fn pid() -> u32 {
    rustix::process::getpid()
        .as_raw_nonzero()
        .get()
        .unsigned_abs()
}

/// This process's effective user id (`geteuid`), compared with a region file's owner.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether a process with this pid exists (it may belong to another user).
///
/// Linux: `kill(pid, 0)`; `EPERM` means it exists but is another user's, so `true`. Returns
/// `false` for 0 and for pids that do not fit an `i32`.
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}
