//! The system's monotonic clock in nanoseconds, so two processes on one machine (a generator
//! stamping frames and a sink reading the stamps) share a time base. `std::time::Instant` is
//! the same clock but keeps its value opaque.

/// `CLOCK_MONOTONIC` now, in nanoseconds since an arbitrary start (boot, on Linux).
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists on
    // Linux, so it cannot fail (if it did, `now` stays zero: a wrong latency, not UB).
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now);
    }
    (now.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(now.tv_nsec as u64)
}

/// The clocks a tc `gate` schedule may run on (act_gate accepts these four).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// `CLOCK_TAI`.
    Tai,
    /// `CLOCK_REALTIME`.
    Realtime,
    /// `CLOCK_BOOTTIME`.
    Boottime,
    /// `CLOCK_MONOTONIC`.
    Monotonic,
}

/// `clock` now, in nanoseconds since its epoch: the safe wrapper the engine (which may not
/// use `unsafe`) reads a gate's clock through. A vDSO call on Linux, no system call.
pub fn now_ns(clock: Clock) -> i64 {
    let id = match clock {
        Clock::Tai => libc::CLOCK_TAI,
        Clock::Realtime => libc::CLOCK_REALTIME,
        Clock::Boottime => libc::CLOCK_BOOTTIME,
        Clock::Monotonic => libc::CLOCK_MONOTONIC,
    };
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec we own; the four clocks exist on every Linux
    // this runs on (if one did not, `now` stays zero: a wrong time, not UB).
    unsafe {
        libc::clock_gettime(id, &mut now);
    }
    now.tv_sec.saturating_mul(1_000_000_000).saturating_add(now.tv_nsec)
}

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_never_goes_back() {
        let a = super::monotonic_ns();
        let b = super::monotonic_ns();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn tai_is_ahead_of_utc_and_each_clock_reads() {
        use super::{now_ns, Clock};
        let (real, tai) = (now_ns(Clock::Realtime), now_ns(Clock::Tai));
        assert!(tai >= real && now_ns(Clock::Boottime) >= now_ns(Clock::Monotonic) - 1_000_000_000);
    }
}
