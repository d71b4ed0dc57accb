//! What an OS error means to shmbus: the one place that reads error codes.

use std::io;

/// The failures shmbus tells apart; everything else is [`Failure::Other`] and reported with its
/// OS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing at the path (`ENOENT`).
    NotFound,
    /// Something is already at the path (`EEXIST`).
    Exists,
    /// The path is a symbolic link, refused by `O_NOFOLLOW` (`ELOOP`).
    Symlink,
    /// The path is not a regular file: what it is instead ([`super::open`]'s own error).
    NotRegular(&'static str),
    /// Permission denied (`EACCES`, `EPERM`).
    Denied,
    /// The file system is full (`ENOSPC`).
    NoSpace,
    /// Anything else.
    Other,
}

/// Classifies an error returned by a function of [`crate::os`].
///
/// Linux: reads `raw_os_error()` (the errno); an error without one is [`Failure::Other`] unless
/// it is [`super::open`]'s not-a-regular-file error.
pub(crate) fn failure(e: &io::Error) -> Failure {
    if let Some(what) = super::file::not_regular(e) {
        return Failure::NotRegular(what);
    }
    match rustix::io::Errno::from_io_error(e) {
        Some(rustix::io::Errno::NOENT) => Failure::NotFound,
        Some(rustix::io::Errno::EXIST) => Failure::Exists,
        Some(rustix::io::Errno::LOOP) => Failure::Symlink,
        Some(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => Failure::Denied,
        Some(rustix::io::Errno::NOSPC) => Failure::NoSpace,
        _ => Failure::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_told_apart() {
        let of = |errno: rustix::io::Errno| failure(&errno.into());
        assert_eq!(of(rustix::io::Errno::NOENT), Failure::NotFound);
        assert_eq!(of(rustix::io::Errno::EXIST), Failure::Exists);
        assert_eq!(of(rustix::io::Errno::LOOP), Failure::Symlink);
        assert_eq!(of(rustix::io::Errno::ACCESS), Failure::Denied);
        assert_eq!(of(rustix::io::Errno::PERM), Failure::Denied);
        assert_eq!(of(rustix::io::Errno::NOSPC), Failure::NoSpace);
        assert_eq!(of(rustix::io::Errno::IO), Failure::Other);
        assert_eq!(failure(&io::Error::other("no errno")), Failure::Other);
    }
}
