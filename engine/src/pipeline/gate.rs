//! tc's `gate` (IEEE 802.1Qci per-stream gating, the kernel's net/sched/act_gate.c),
//! decided per frame from the time on the gate's clock rather than by act_gate's timer.
//!
//! The schedule starts where act_gate's does: at `base-time`, or where that is past when the
//! gate is made (the table is built), at the next cycle boundary after it; until then the
//! gate is pending and lets every frame through uncounted (act_gate's `GATE_ACT_PENDING`).
//! From the start, the entry in force at `now` is the one whose interval holds `(now - base)
//! mod cycle` (802.1Q's list execution: a cycle shorter than the intervals cuts the list, a
//! longer one holds the last entry to the cycle's end).
//!
//! The octet budget of an entry with MAXOCTETS is one atomic per entry, shared by every
//! worker: the cycle number's low 32 bits and the octets met in that cycle's window. A
//! frame adds its length (a compare-and-swap, no lock) and passes while the sum stays
//! within the budget; a frame that goes over is still counted, as act_gate counts it, so the
//! gate stays shut for the rest of the window. A new window starts the count again. (The
//! count could be taken for a new window's only after 2^32 cycles without a frame in that
//! entry, and then only by a frame landing in a cycle with the same low 32 bits.)

use std::sync::atomic::{AtomicU64, Ordering};

use pmd::clock::Clock;
use rules::{Gate, GateClock};

/// What the gate says of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Before the schedule starts: through, uncounted.
    Pending,
    /// Open (within its budget, if any).
    Open,
    /// The entry in force is `close`.
    Closed,
    /// Open, but the frame takes the window's octets over MAXOCTETS.
    OverLimit,
}

#[derive(Debug)]
struct Entry {
    /// Where it ends in the cycle, ns (the last entry's is the cycle's end).
    end: u64,
    open: bool,
    /// MAXOCTETS, if any.
    max_octets: Option<u32>,
    /// Cycle number's low 32 bits << 32 | octets met in that window (saturating).
    window: AtomicU64,
}

/// One gate, shared by every rule naming its index and by every worker.
#[derive(Debug)]
pub struct GateState {
    clock: Clock,
    base: i64,
    cycle: u64,
    /// When the schedule starts (ns on `clock`).
    start: i64,
    entries: Box<[Entry]>,
}

impl GateState {
    /// The gate `gate` made at `made_ns` on its clock (act_gate's `gate_get_start_time`).
    /// `gate` has entries and a cycle within an i64 (the parser sees to both).
    pub fn new(gate: &Gate, made_ns: i64) -> GateState {
        let cycle = gate.cycle().max(1);
        let mut end = 0u64;
        let mut entries: Vec<Entry> = gate
            .entries
            .iter()
            .map(|e| {
                end = end.saturating_add(u64::from(e.interval)).min(cycle);
                // Cycle 0's window, nothing counted: right for whichever window comes first.
                Entry { end, open: e.open, max_octets: e.max_octets, window: AtomicU64::new(0) }
            })
            .collect();
        if let Some(last) = entries.last_mut() {
            last.end = cycle; // 802.1Q: the last entry holds to the cycle's end
        }
        let base = gate.base_time;
        let start = if base > made_ns {
            base
        } else {
            let n = (i128::from(made_ns) - i128::from(base)) / i128::from(cycle);
            i64::try_from(i128::from(base) + (n + 1) * i128::from(cycle)).unwrap_or(i64::MAX)
        };
        GateState { clock: clock(gate.clock), base, cycle, start, entries: entries.into_boxed_slice() }
    }

    /// Now on `gate`'s clock, ns (when it is made).
    pub fn clock_now(gate: &Gate) -> i64 {
        pmd::clock::now_ns(clock(gate.clock))
    }

    /// Now on the gate's clock, ns.
    #[inline]
    pub fn now_ns(&self) -> i64 {
        pmd::clock::now_ns(self.clock)
    }

    /// What the gate says of a frame of `octets` bytes (as act_gate counts them) at `now`
    /// (ns on its clock); counts it against the entry's budget where it has one.
    #[inline]
    pub fn admit(&self, now: i64, octets: usize) -> Verdict {
        if now < self.start {
            return Verdict::Pending;
        }
        let since = (i128::from(now) - i128::from(self.base)) as u128;
        let (n, at) = (since / u128::from(self.cycle), (since % u128::from(self.cycle)) as u64);
        let Some(entry) = self.entries.iter().find(|e| at < e.end) else { return Verdict::Closed };
        if !entry.open {
            return Verdict::Closed;
        }
        let Some(max) = entry.max_octets else { return Verdict::Open };
        let tag = (n as u64) << 32;
        let octets = u64::try_from(octets).unwrap_or(u64::MAX).min(u64::from(u32::MAX));
        let mut old = entry.window.load(Ordering::Relaxed);
        loop {
            let before = if old & !0xffff_ffff == tag { old & 0xffff_ffff } else { 0 };
            let after = (before + octets).min(u64::from(u32::MAX));
            match entry.window.compare_exchange_weak(old, tag | after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return if after > u64::from(max) { Verdict::OverLimit } else { Verdict::Open },
                Err(now_old) => old = now_old,
            }
        }
    }
}

fn clock(clock: GateClock) -> Clock {
    match clock {
        GateClock::Tai => Clock::Tai,
        GateClock::Realtime => Clock::Realtime,
        GateClock::Boottime => Clock::Boottime,
        GateClock::Monotonic => Clock::Monotonic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::GateEntry;

    fn gate(base_time: i64, cycle_time: u64, entries: &[(bool, u32, Option<u32>)]) -> Gate {
        Gate {
            index: None,
            clock: GateClock::Tai,
            base_time,
            cycle_time,
            cycle_time_ext: 0,
            priority: -1,
            flags: 0,
            entries: entries
                .iter()
                .map(|&(open, interval, max_octets)| GateEntry { open, interval, ipv: -1, max_octets })
                .collect(),
            control: rules::Control::Pipe,
        }
    }

    /// The model: the entry whose interval holds `(now - base) mod cycle`, the last one
    /// held to the cycle's end; pending before `start`.
    fn model(g: &Gate, start: i64, now: i64) -> Option<bool> {
        if now < start {
            return None;
        }
        let at = (now - g.base_time).rem_euclid(g.cycle() as i64);
        let mut end = 0i64;
        for e in &g.entries {
            end += i64::from(e.interval);
            if at < end {
                return Some(e.open);
            }
        }
        g.entries.last().map(|e| e.open)
    }

    #[test]
    fn the_entry_in_force_is_the_models_at_every_time() {
        // Open 200, close 100, open 50 from base 1000; cycles of the sum, a shorter one (cut)
        // and a longer one (the last entry held).
        for cycle_time in [0, 280, 400] {
            let g = gate(1000, cycle_time, &[(true, 200, None), (false, 100, None), (true, 50, None)]);
            // Made before base: starts at base.
            let s = GateState::new(&g, 10);
            assert_eq!(s.start, 1000);
            for now in (0..3000).step_by(7).chain([999, 1000, 1199, 1200, 1299, 1300, 1349, 1350]) {
                let want = match model(&g, 1000, now) {
                    None => Verdict::Pending,
                    Some(true) => Verdict::Open,
                    Some(false) => Verdict::Closed,
                };
                assert_eq!(s.admit(now, 64), want, "cycle-time {cycle_time}, now {now}");
            }
        }
        // Made after base: pending to the next cycle boundary (act_gate's start time).
        let g = gate(0, 0, &[(false, 100, None)]);
        let s = GateState::new(&g, 250);
        assert_eq!((s.start, s.admit(299, 1), s.admit(300, 1)), (300, Verdict::Pending, Verdict::Closed));
        // A base before the clock's epoch.
        let g = gate(-150, 0, &[(true, 100, None), (false, 100, None)]);
        let s = GateState::new(&g, -1000);
        assert_eq!(
            (s.admit(-51, 1), s.admit(-50, 1), s.admit(49, 1)),
            (Verdict::Open, Verdict::Closed, Verdict::Closed)
        );
        assert_eq!(s.admit(50, 1), Verdict::Open);
    }

    #[test]
    fn maxoctets_counts_every_frame_of_the_window_and_restarts_with_the_next() {
        let g = gate(0, 0, &[(true, 100, Some(1000)), (false, 100, None)]);
        let s = GateState::new(&g, -1);
        assert_eq!(s.admit(0, 900), Verdict::Open);
        assert_eq!(s.admit(10, 100), Verdict::Open, "exactly the budget");
        assert_eq!(s.admit(20, 1), Verdict::OverLimit);
        // Counted though dropped (act_gate's running count): shut to the window's end.
        assert_eq!(s.admit(99, 0), Verdict::OverLimit);
        assert_eq!(s.admit(150, 1), Verdict::Closed);
        // The next cycle's window starts from 0.
        assert_eq!(s.admit(200, 1000), Verdict::Open);
        assert_eq!(s.admit(250, 1), Verdict::OverLimit);
        // A budget of 0 lets no frame through.
        let zero = GateState::new(&gate(0, 0, &[(true, 10, Some(0))]), -1);
        assert_eq!((zero.admit(0, 1), zero.admit(10, 1)), (Verdict::OverLimit, Verdict::OverLimit));
    }

    /// Two workers offering 100-byte frames into one window: exactly the budget passes.
    #[test]
    fn workers_share_one_budget_exactly() {
        let g = gate(0, 0, &[(true, u32::MAX, Some(100_000))]);
        let s = std::sync::Arc::new(GateState::new(&g, -1));
        let passed: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    scope.spawn(move || (0..5000).filter(|&i| s.admit(i, 100) == Verdict::Open).count())
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("no panic")).sum()
        });
        assert_eq!(passed, 1000);
    }
}
