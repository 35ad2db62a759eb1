//! `dataplane gen`: sends an IPv4/UDP template out of an interface with AF_XDP, as fast as
//! possible or at a paced rate, recycling frames through the completion ring.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pmd::af_xdp::{open_owner_socket, RingSizes};
use pmd::{netdev, BindMode};
use umem::{Frame, Umem, UmemConfig};

use crate::template::UdpTemplate;

/// How frames are put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// AF_XDP transmit: in copy mode every frame becomes an skb (about 0.5 Mpps per core
    /// on veth).
    AfXdp,
    /// `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`: the kernel runs an XDP_TX program
    /// on the frame in a loop and each copy leaves through the interface's XDP transmit path
    /// (several Mpps per core). The receiving side needs an XDP program or GRO. With a rate,
    /// frames go in 50 ms slices at full speed (coarse pacing).
    Live,
}

pub struct GenConfig {
    pub engine: Engine,
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
    /// Bucket depth, and the batch `allow` waits for.
    batch: f64,
    last: Instant,
}

impl Pacer {
    fn new(rate: f64, batch: usize) -> Pacer {
        Pacer { rate, tokens: 0.0, batch: batch.max(1) as f64, last: Instant::now() }
    }

    /// How many frames may go now (at most `want`); sleeps or spins until a batch may.
    fn allow(&mut self, want: usize, stop: &AtomicBool) -> usize {
        let need = self.batch.min(want as f64).max(1.0);
        loop {
            let now = Instant::now();
            self.tokens = (self.tokens + self.rate * (now - self.last).as_secs_f64()).min(self.batch);
            self.last = now;
            if self.tokens >= need || stop.load(Ordering::Relaxed) {
                let n = (self.tokens as usize).min(want);
                self.tokens -= n as f64;
                return n;
            }
            let wait = (need - self.tokens) / self.rate;
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
    match config.engine {
        Engine::AfXdp => send_af_xdp(config, &frame, iface, ifindex, stop),
        Engine::Live => send_live(config, &frame, iface, ifindex, stop),
    }
}

fn send_af_xdp(
    config: &GenConfig,
    frame: &[u8],
    iface: &str,
    ifindex: u32,
    stop: &AtomicBool,
) -> Result<GenReport, String> {
    let (umem, frames) = Umem::create(&UmemConfig { frame_size: 2048, frame_count: 2 * TX_RING, hugepages: false })
        .map_err(|e| format!("UMEM: {e}"))?;
    // The fill ring is required by the kernel even for a socket that only sends.
    let sizes = RingSizes { fill: 64, comp: TX_RING, rx: 0, tx: TX_RING };
    let mut socket =
        open_owner_socket(&umem, iface, ifindex, config.queue, sizes, config.mode).map_err(|e| e.to_string())?;
    let _ = socket.set_tx_budget(BURST as u32 * 4);

    let mut free: Vec<Frame> = Vec::with_capacity(frames.len());
    for mut f in frames {
        umem.write(&mut f, frame);
        free.push(f);
    }
    let mut batch: Vec<Frame> = Vec::with_capacity(BURST);
    let mut done: Vec<Frame> = Vec::with_capacity(TX_RING as usize);
    // Bursts of at most 1 frame per token: paced traffic is smooth.
    let mut pacer = config.rate.map(|rate| Pacer::new(rate, 1));
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

/// Frames per `BPF_PROG_RUN` call when sending as fast as possible: large enough that the
/// syscall costs nothing per frame, small enough to stop on time.
const LIVE_CHUNK: u32 = 16 * 1024;

fn send_live(
    config: &GenConfig,
    frame: &[u8],
    iface: &str,
    ifindex: u32,
    stop: &AtomicBool,
) -> Result<GenReport, String> {
    use bpf::{Insn, ProgType, Program, Reg, TestRunOptions};

    // XDP_TX in a live-frames run is a redirect back out of the "ingress" interface.
    let program = Program::load(ProgType::Xdp, "gen_xdp_tx", &[Insn::mov64_imm(Reg::R0, bpf::xdp::TX), Insn::exit()])
        .map_err(|e| e.to_string())?;
    let context = bpf::xdp::XdpMd::for_frame(frame.len(), ifindex, config.queue).to_bytes();
    let run = |count: u32| {
        let options = TestRunOptions {
            repeat: count,
            flags: TestRunOptions::XDP_LIVE_FRAMES,
            ctx_in: Some(&context),
            ..Default::default()
        };
        program.test_run_with(frame, &options).map(drop).map_err(|e| format!("live frames on {iface}: {e}"))
    };

    // A redirect into a veth whose peer has neither an XDP program nor GRO fails silently
    // (the call still succeeds). Frames the peer did take show up in this end's tx_packets
    // once the peer's NAPI has run, so probe with one batch and look.
    let limit = config.count.unwrap_or(u64::MAX);
    let probe = limit.min(64) as u32;
    let sent_before = netdev::tx_packets(iface).unwrap_or(0);
    run(probe)?;
    let probe_start = Instant::now();
    while netdev::tx_packets(iface).unwrap_or(0) == sent_before {
        if probe_start.elapsed() > Duration::from_millis(200) {
            return Err(format!(
                "the peer of {iface} took none of {probe} probe frames: it needs an XDP program (start the \
                 dataplane or the sink on it first) or GRO (ethtool -K PEER gro on)"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    // The probe frames count: they went out.
    let mut sent = u64::from(probe);
    // Each call sets the kernel up anew (a page pool, torn down behind an RCU grace period:
    // milliseconds), so paced traffic goes in slices of 50 ms, each sent at full speed. The
    // af_xdp engine paces frame by frame.
    let mut pacer = config.rate.map(|rate| Pacer::new(rate, (rate / 20.0).max(1.0) as usize));
    let start = Instant::now();
    while sent < limit && !stop.load(Ordering::Relaxed) {
        if config.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let room = (limit - sent).min(u64::from(LIVE_CHUNK)) as u32;
        let count = match &mut pacer {
            Some(pacer) => pacer.allow(room as usize, stop) as u32,
            None => room,
        };
        if count > 0 {
            run(count)?;
            sent += u64::from(count);
        }
    }
    Ok(GenReport { sent, seconds: start.elapsed().as_secs_f64() })
}
