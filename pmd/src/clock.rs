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

#[cfg(test)]
mod tests {
    #[test]
    fn monotonic_never_goes_back() {
        let a = super::monotonic_ns();
        let b = super::monotonic_ns();
        assert!(a > 0 && b >= a);
    }
}
