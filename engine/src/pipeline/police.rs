//! tc's `police` as a token bucket shared by every worker: the generic cell rate algorithm
//! (ITU-T I.371 virtual scheduling), which keeps one number per bucket, the theoretical
//! arrival time of the next frame, so a compare-and-swap updates it without a lock and the
//! rate holds exactly however many workers take from it.
//!
//! A frame of `L` units (bytes, or 1 for a packet rate) costs `L` times the time one unit
//! takes at the rate. It conforms when the bucket's time after it, `max(tat, now) + cost -
//! now`, stays within the burst's time, as a token bucket of `burst` units with enough tokens
//! for the frame; only a conforming frame takes its cost (net/sched/act_police.c likewise
//! leaves the bucket alone for an exceeding one). A frame over `mtu` always exceeds.

use std::sync::atomic::{AtomicU64, Ordering};

use rules::{Police, PoliceRate};

/// Picoseconds per second: times are kept in ps, so a 64-byte frame at 100 Gbit/s (5.12 ns)
/// costs an exact whole number.
const PS_PER_SECOND: u128 = 1_000_000_000_000;

/// One rule's policer.
#[derive(Debug)]
pub struct Policer {
    /// The theoretical arrival time, in ps since the table's clock started.
    tat: AtomicU64,
    /// What one unit (a byte, or a packet) costs, in ps; 0 without a rate.
    ps_per_unit: u64,
    /// Whether a frame costs its length (a byte rate) or 1 (a packet rate).
    per_byte: bool,
    /// The burst's time, in ps.
    depth_ps: u64,
    /// Frames longer than this exceed.
    mtu: u64,
}

impl Policer {
    /// A full bucket for `police`.
    pub fn new(police: &Police) -> Policer {
        let (per_second, burst, per_byte) = match police.rate {
            Some(PoliceRate::Bytes { per_second, burst }) => (per_second, burst, true),
            Some(PoliceRate::Packets { per_second, burst }) => (per_second, burst, false),
            None => (0, 0, true),
        };
        let ps_per_unit =
            if per_second == 0 { 0 } else { u64::try_from(PS_PER_SECOND / u128::from(per_second)).unwrap_or(u64::MAX) };
        Policer {
            tat: AtomicU64::new(0),
            ps_per_unit,
            per_byte,
            depth_ps: burst.saturating_mul(ps_per_unit),
            mtu: police.mtu.unwrap_or(u64::MAX),
        }
    }

    /// Whether a frame of `len` bytes arriving at `now_ps` conforms; if so it takes its cost.
    #[inline]
    pub fn conforms(&self, len: usize, now_ps: u64) -> bool {
        let len = len as u64;
        if len > self.mtu {
            return false;
        }
        if self.ps_per_unit == 0 {
            return true; // `mtu` alone: a size check.
        }
        let cost = if self.per_byte { len } else { 1 }.saturating_mul(self.ps_per_unit);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now_ps);
            let after = start.saturating_add(cost);
            if after - now_ps > self.depth_ps {
                return false;
            }
            match self.tat.compare_exchange_weak(tat, after, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now_tat) => tat = now_tat,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::Control;

    fn police(rate: PoliceRate) -> Police {
        Police { rate: Some(rate), mtu: None, exceed: Control::Drop, conform: Control::Pass, index: None }
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_the_rate() {
        // 1000 bytes/s, 3000-byte bucket: three 1000-byte frames at once, then one a second.
        let p = Policer::new(&police(PoliceRate::Bytes { per_second: 1000, burst: 3000 }));
        let second = 1_000_000_000_000u64;
        assert!((0..3).all(|_| p.conforms(1000, 0)));
        assert!(!p.conforms(1000, 0), "the bucket is empty");
        assert!(!p.conforms(1000, second / 2), "half a frame's worth has come back");
        assert!(p.conforms(1000, second));
        // A frame longer than the bucket never conforms.
        assert!(!p.conforms(3001, 100 * second));
    }

    #[test]
    fn packet_rates_count_frames_and_mtu_caps_the_size() {
        let p = Policer::new(&police(PoliceRate::Packets { per_second: 10, burst: 2 }));
        assert!(p.conforms(9000, 0) && p.conforms(64, 0) && !p.conforms(64, 0));
        let mtu_only = Policer::new(&Police {
            rate: None,
            mtu: Some(1500),
            exceed: Control::Drop,
            conform: Control::Pass,
            index: None,
        });
        assert!(mtu_only.conforms(1500, 0) && !mtu_only.conforms(1501, 0));
    }

    /// Two threads taking from one bucket for a simulated second: what conforms is the rate
    /// plus the burst, within 1 %, however the two interleave.
    #[test]
    fn workers_share_one_exact_rate() {
        let per_second = 1_000_000u64; // 1 MB/s of 100-byte frames: 10,000 frames a second
        let p = std::sync::Arc::new(Policer::new(&police(PoliceRate::Bytes { per_second, burst: 10_000 })));
        let offered_per_thread = 50_000u64; // 100,000 frames offered in the second: 10x the rate
        let passed: u64 = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let p = p.clone();
                    scope.spawn(move || {
                        (0..offered_per_thread)
                            .filter(|&i| p.conforms(100, i * 1_000_000_000_000 / offered_per_thread))
                            .count() as u64
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("no panic")).sum()
        });
        let expected = per_second / 100 + 10_000 / 100; // the rate for a second, plus the burst
        let error = passed.abs_diff(expected) as f64 / expected as f64;
        assert!(error < 0.01, "{passed} frames passed, {expected} expected");
    }
}
