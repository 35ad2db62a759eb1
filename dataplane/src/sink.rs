//! `dataplane sink`: counts every frame that arrives on an interface with an XDP program
//! (a per-CPU counter, then XDP_DROP), the cheapest place to count, so the sink is not what
//! limits a measurement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pmd::netdev;
use pmd::xdp_prog::XdpCounter;

use crate::stats::format_pps;

pub struct SinkConfig {
    pub iface: String,
    pub duration: Option<Duration>,
    /// Print a progress line this often (None: only the total).
    pub interval: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SinkReport {
    pub packets: u64,
    pub bytes: u64,
    /// From attach to stop.
    pub seconds: f64,
    /// From the first sample that saw packets to the last one that saw the count grow: the
    /// time traffic was really arriving.
    pub active_seconds: f64,
}

impl SinkReport {
    /// Packets per second while traffic arrived.
    pub fn pps(&self) -> f64 {
        if self.active_seconds > 0.0 {
            self.packets as f64 / self.active_seconds
        } else {
            0.0
        }
    }
}

const SAMPLE: Duration = Duration::from_millis(50);

pub fn sink(config: &SinkConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<SinkReport, String> {
    netdev::check_privileges().map_err(|e| e.to_string())?;
    netdev::raise_memlock_limit();
    let ifindex = netdev::ifindex(&config.iface).map_err(|e| e.to_string())?;
    let counter = XdpCounter::load().map_err(|e| e.to_string())?;
    let (_link, _mode) = bpf::Link::attach_xdp_auto(counter.program(), ifindex)
        .map_err(|e| format!("cannot attach the counting program to {}: {e}", config.iface))?;
    ready();
    let start = Instant::now();
    let (mut first_seen, mut last_growth): (Option<Instant>, Option<Instant>) = (None, None);
    let mut last_print = (start, 0u64);
    let mut packets = 0;
    while !stop.load(Ordering::Relaxed) && config.duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(SAMPLE);
        let (p, _) = counter.read().map_err(|e| e.to_string())?;
        let now = Instant::now();
        if p > packets {
            // Packets arrived during the sample that just ended.
            first_seen.get_or_insert(now - SAMPLE);
            last_growth = Some(now);
        }
        packets = p;
        if let Some(interval) = config.interval {
            if now - last_print.0 >= interval {
                let rate = (packets - last_print.1) as f64 / (now - last_print.0).as_secs_f64();
                eprintln!("{:6.1}s  {:>11}  total {packets}", (now - start).as_secs_f64(), format_pps(rate));
                last_print = (now, packets);
            }
        }
    }
    let (p, b) = counter.read().map_err(|e| e.to_string())?;
    if p > packets {
        last_growth = Some(Instant::now());
        first_seen.get_or_insert(Instant::now() - SAMPLE);
    }
    let active_seconds = match (first_seen, last_growth) {
        (Some(a), Some(b)) => (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Ok(SinkReport { packets: p, bytes: b, seconds: start.elapsed().as_secs_f64(), active_seconds })
}
