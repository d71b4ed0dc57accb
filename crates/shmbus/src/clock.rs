//! Wall-clock time for hot paths: the TSC (through `quanta`), anchored to `CLOCK_REALTIME`.
//!
//! `clock_gettime` costs 50–60 ns on some virtual machines, half the budget of a live-candle
//! update. This clock reads the TSC (about 10 ns) and re-anchors itself to the real-time clock
//! every second, so it never drifts more than the TSC's error over one second (ppm).

use std::time::Duration;

const RECALIBRATE: Duration = Duration::from_secs(1);

/// A cheap clock of µs since the Unix epoch.
#[derive(Debug)]
pub(crate) struct UnixClock {
    clock: quanta::Clock,
    anchor_raw: u64,
    anchor_unix_ns: u64,
}

impl UnixClock {
    pub(crate) fn new() -> Self {
        let clock = quanta::Clock::new();
        Self {
            anchor_raw: clock.raw(),
            anchor_unix_ns: crate::now_unix_ns(),
            clock,
        }
    }

    /// Microseconds since the Unix epoch.
    #[inline]
    pub(crate) fn now_us(&mut self) -> u64 {
        let raw = self.clock.raw();
        let since = self.clock.delta_as_nanos(self.anchor_raw, raw);
        if since > RECALIBRATE.as_nanos() as u64 {
            self.anchor_raw = raw;
            self.anchor_unix_ns = crate::now_unix_ns();
            return self.anchor_unix_ns / 1000;
        }
        (self.anchor_unix_ns + since) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_real_time_clock() {
        let mut c = UnixClock::new();
        for _ in 0..3 {
            let real = crate::now_unix_ns() / 1000;
            let fast = c.now_us();
            assert!(fast.abs_diff(real) < 2_000, "fast {fast} real {real}");
            std::thread::sleep(Duration::from_millis(5));
        }
        let a = c.now_us();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.now_us();
        assert!((15_000..200_000).contains(&(b - a)), "{}", b - a);
    }
}
