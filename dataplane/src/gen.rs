//! `dataplane gen`: sends an IPv4/UDP template out of an interface with AF_XDP, as fast as
//! possible or at a paced rate, recycling frames through the completion ring.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pmd::af_xdp::{open_owner_socket, RingSizes};
use pmd::{netdev, BindMode};
use umem::{Frame, Umem, UmemConfig};

use crate::template::UdpTemplate;

pub struct GenConfig {
    pub iface: Option<String>,
    pub template: UdpTemplate,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub rate: Option<f64>,
    pub queue: u32,
    pub mode: BindMode,
    pub core: Option<usize>,
    pub pcap: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenReport {
    /// Frames the kernel took and completed.
    pub sent: u64,
    pub seconds: f64,
}

impl GenReport {
    pub fn pps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.sent as f64 / self.seconds
        } else {
            0.0
        }
    }
}

const TX_RING: u32 = 2048;
const BURST: usize = 64;

/// A token bucket as deep as one burst: paced traffic never comes in bursts larger than
/// that, and a generator that falls behind does not catch up in a flood.
struct Pacer {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        Pacer { rate, tokens: 1.0, last: Instant::now() }
    }

    /// How many frames may go now (at most `want`); sleeps or spins until at least one may.
    fn allow(&mut self, want: usize, stop: &AtomicBool) -> usize {
        loop {
            let now = Instant::now();
            self.tokens = (self.tokens + self.rate * (now - self.last).as_secs_f64()).min(BURST as f64);
            self.last = now;
            if self.tokens >= 1.0 || stop.load(Ordering::Relaxed) {
                let n = (self.tokens as usize).min(want);
                self.tokens -= n as f64;
                return n;
            }
            let wait = (1.0 - self.tokens) / self.rate;
            if wait > 200e-6 {
                std::thread::sleep(Duration::from_secs_f64(wait * 0.8));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

pub fn generate(config: &GenConfig, stop: &AtomicBool) -> Result<GenReport, String> {
    let frame = config.template.build();
    if let Some(path) = &config.pcap {
        let count = config.count.unwrap_or(1);
        let mut writer = pmd::pcap::create_capture(path).map_err(|e| e.to_string())?;
        for _ in 0..count {
            let packet = pcap_file::pcap::PcapPacket::new(Duration::ZERO, frame.len() as u32, &frame);
            writer.write_packet(&packet).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if config.iface.is_none() {
            return Ok(GenReport { sent: count, seconds: 0.0 });
        }
    }
    let iface = config.iface.as_deref().ok_or("give --iface NAME to send, or --pcap FILE to write a capture")?;
    if let Some(core) = config.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            return Err(format!("could not pin the generator to core {core}"));
        }
    }
    netdev::check_privileges().map_err(|e| e.to_string())?;
    netdev::raise_memlock_limit();
    let ifindex = netdev::ifindex(iface).map_err(|e| e.to_string())?;
    if let Some(mtu) = netdev::mtu(iface) {
        if frame.len() > mtu as usize + 14 {
            return Err(format!("a {}-byte frame does not fit the MTU of {iface} ({mtu})", frame.len()));
        }
    }

    let (umem, frames) = Umem::create(&UmemConfig { frame_size: 2048, frame_count: 2 * TX_RING, hugepages: false })
        .map_err(|e| format!("UMEM: {e}"))?;
    // The fill ring is required by the kernel even for a socket that only sends.
    let sizes = RingSizes { fill: 64, comp: TX_RING, rx: 0, tx: TX_RING };
    let mut socket =
        open_owner_socket(&umem, iface, ifindex, config.queue, sizes, config.mode).map_err(|e| e.to_string())?;
    let _ = socket.set_tx_budget(BURST as u32 * 4);

    let mut free: Vec<Frame> = Vec::with_capacity(frames.len());
    for mut f in frames {
        umem.write(&mut f, &frame);
        free.push(f);
    }
    let mut batch: Vec<Frame> = Vec::with_capacity(BURST);
    let mut done: Vec<Frame> = Vec::with_capacity(TX_RING as usize);
    let mut pacer = config.rate.map(Pacer::new);
    let limit = config.count.unwrap_or(u64::MAX);
    let (mut submitted, mut completed) = (0u64, 0u64);
    let start = Instant::now();
    let fd = socket.raw_fd();
    let tx = socket.tx.as_mut().expect("the socket has a tx ring");

    let reap = |comp: &mut umem::CompRing, free: &mut Vec<Frame>, done: &mut Vec<Frame>| {
        let n = comp.complete_into(done, TX_RING);
        for mut f in done.drain(..) {
            f.set_len(frame.len());
            free.push(f);
        }
        n as u64
    };

    while submitted < limit && !stop.load(Ordering::Relaxed) {
        if config.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        completed += reap(&mut socket.comp, &mut free, &mut done);
        let mut want = BURST.min(free.len()).min((limit - submitted) as usize);
        if let Some(pacer) = &mut pacer {
            want = pacer.allow(want, stop);
        }
        if want > 0 {
            batch.extend(free.drain(free.len() - want..));
            submitted += tx.send_from(&mut batch) as u64;
            free.append(&mut batch);
        }
        if tx.needs_wakeup() && tx.in_flight() > 0 {
            pmd::af_xdp::sys::kick_tx(fd).map_err(|e| format!("sendto on {iface}: {e}"))?;
        }
    }
    // Let what is in the ring go out and come back.
    let drain_start = Instant::now();
    while completed < submitted && drain_start.elapsed() < Duration::from_secs(1) {
        if tx.in_flight() > 0 {
            let _ = pmd::af_xdp::sys::kick_tx(fd);
        }
        completed += reap(&mut socket.comp, &mut free, &mut done);
    }
    Ok(GenReport { sent: completed, seconds: start.elapsed().as_secs_f64() })
}
