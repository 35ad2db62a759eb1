//! Scheduling knobs a poll-mode worker needs when it shares its core.

/// Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`): how late the kernel may
/// wake a sleeping thread to batch wake-ups. The default, 50 µs, would stretch the short
/// sleeps of a worker that gives its core to the kernel's receive work between polls.
/// Returns false if the kernel refused.
pub fn set_timer_slack_ns(ns: u64) -> bool {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) == 0 }
}
