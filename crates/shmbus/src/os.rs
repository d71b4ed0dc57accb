//! The OS boundary: every system call shmbus makes, and every reading of an OS error code, lives
//! in this folder; the rest of the crate speaks in safe types ([`OpenMode`], [`FileStat`],
//! [`Failure`], [`SharedMap`]) and never names `rustix`, `libc`, `std::fs` or an errno.
//!
//! One file per concern, each a handful of functions whose doc comment says what it does on
//! Linux and what it returns; `docs/PORTABILITY.md` lists them all with what macOS and Windows
//! offer instead, so a port replaces the files of this folder and nothing else.
//!
//! * [`file`]: region and segment files (open, stat, reserve, unlink, permissions).
//! * [`dir`]: directories (a persisted journal's directory, region listings).
//! * [`lock`]: the writer lock (`flock`).
//! * [`map`]: shared mappings (`mmap` through memmap2).
//! * [`sigbus`]: the SIGBUS handler that turns a truncation under a mapping into an error.
//! * [`futex`]: the journal's doorbell (sleep on a shared word, wake its sleepers).
//! * [`process`]: pids, uids, liveness of a pid.
//! * [`clock`]: wall-clock time.
//! * [`errno`]: what an [`std::io::Error`] from any of them means ([`failure`]).
//!
//! Regions are plain files: a POSIX shared-memory name is the file `/dev/shm/NAME` (exactly what
//! glibc's `shm_open` opens), so one code path opens both, always with `O_NOFOLLOW | O_CLOEXEC`,
//! and only ever a regular file (see [`open`]).

pub(crate) mod clock;
pub(crate) mod dir;
pub(crate) mod errno;
pub(crate) mod file;
pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod map;
pub(crate) mod process;
pub(crate) mod sigbus;

pub use clock::now_unix_ns;
pub(crate) use clock::now_unix_ns_coarse;
pub use dir::SHM_DIR;
pub(crate) use dir::{SHM_NAME_MAX, create_dir, list_dir, open_dir, remove_dir};
pub(crate) use errno::{Failure, failure};
pub(crate) use file::{
    FileStat, OpenMode, PathStat, file_len, free_space, not_regular, open, path_stat,
    read_exact_at, reopen_write, reserve, stat, unlink, unlink_same,
};
pub(crate) use futex::{futex_wait, futex_wake_all};
pub(crate) use lock::{try_lock_exclusive, writer_lock_held};
pub(crate) use map::SharedMap;
pub(crate) use process::{euid, pid, pid_alive};
/// An open file or directory, and what borrows one (`HANDLE` on Windows).
pub(crate) use std::os::fd::{AsFd as AsHandle, OwnedFd as Handle};
