//! Wall-clock time.

/// Nanoseconds since the Unix epoch (`CLOCK_REALTIME`), comparable across processes.
pub fn now_unix_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// As [`now_unix_ns`] from `CLOCK_REALTIME_COARSE`: a few ns instead of about 20, at the
/// resolution of the kernel tick (1-4 ms), for timestamps that only humans read.
pub(crate) fn now_unix_ns_coarse() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}
