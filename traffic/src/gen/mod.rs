//! `dataplane gen`: sends frames of a [`Template`] (UDP, TCP, VXLAN, GRE, Geneve; IPv4 or
//! IPv6) out of an interface, as fast as possible or at a paced rate, with flows, IMIX
//! sizes and bad checksums as asked ([`FramePlan`]), or writes them to a capture.
//!
//! Both engines vary every frame: its flow, its size, its bad checksum and its stamp
//! ([`crate::stamp`]: stream, sequence number, send time, for the sink's loss, reorder and
//! latency counts).
//! - af-xdp: every frame is built anew in its UMEM frame just before it goes in the
//!   transmit ring; its sequence number is its index.
//! - live: `BPF_PROG_RUN` live frames, the variation done in the kernel by an XDP program
//!   ([`prog`]) from a table of per-(size, flow, checksum variant) word patches ([`patch`])
//!   and per-CPU state; the program stays attached to an idle `ifb` device the generator
//!   creates in its namespace (and removes), so calls go back to back ([`live`]). Stamps
//!   are numbered per CPU (stream = the run's base stream + the CPU id).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pmd::af_xdp::{open_owner_socket, RingSizes, TxMetadata};
use pmd::netdev;
use umem::{Frame, Umem, UmemConfig};

use crate::template::{Template, MAX_FRAME};

mod config;
mod error;
pub mod live;
pub mod patch;
mod plan;
pub mod prog;

pub use config::{Engine, GenConfig, GenReport};
pub use error::GenError;
pub use plan::{BadCsum, FramePlan};

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
                // At most a second at a time: a slow rate still sees `stop` soon, and a wait
                // that no Duration can hold (a tiny rate) is never built.
                std::thread::sleep(Duration::from_secs_f64((wait * 0.8).min(1.0)));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// Sends (or writes) the frames `config` asks for, until its count or duration is reached
/// or `stop` is set.
pub fn generate(config: &GenConfig, stop: &AtomicBool) -> Result<GenReport, GenError> {
    // Both engines number every frame (the live engine in its XDP program).
    let plan = FramePlan::new(config.template, config.sizes, config.flows, config.bad_csum, true)?;
    if let Some(path) = &config.pcap {
        let count = config.count.unwrap_or(1);
        let mut writer = pmd::pcap::create_capture(path).map_err(|e| GenError::CaptureCreate(e.into()))?;
        let mut frame = vec![0u8; MAX_FRAME];
        // The capture holds what the af-xdp engine would send: sequenced stamps.
        let file_plan = FramePlan { sequenced: true, ..plan.clone() };
        for index in 0..count {
            let len = file_plan.write(index, pmd::clock::monotonic_ns(), &mut frame)?;
            let packet = pcap_file::pcap::PcapPacket::new(Duration::ZERO, len as u32, &frame[..len]);
            writer.write_packet(&packet).map_err(|source| GenError::CaptureWrite { path: path.clone(), source })?;
        }
        if config.iface.is_none() {
            let bytes = file_plan.bytes_of_first(count);
            return Ok(GenReport {
                sent: count,
                bytes,
                bad_csum: file_plan.bad_in_first(count),
                seconds: 0.0,
                generated: None,
                xmit_errors: None,
                offered_src: "capture",
                stream: Some(file_plan.stream),
            });
        }
    }
    let iface = config.iface.as_deref().ok_or(GenError::NoOutput)?;
    if let Some(core) = config.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            return Err(GenError::Pin { core });
        }
    }
    netdev::check_privileges().map_err(GenError::port(iface))?;
    netdev::raise_memlock_limit();
    let ifindex = netdev::ifindex(iface).map_err(GenError::port(iface))?;
    if let Some(mtu) = netdev::mtu(iface) {
        // The MTU counts from the outermost IP header: a VLAN tag on the wire is extra.
        let l2 = crate::template::ETH_HEADER + if has_wire_vlan(&config.template) { 4 } else { 0 };
        if plan.max_len() > mtu as usize + l2 {
            return Err(GenError::Mtu { iface: iface.to_string(), mtu, len: plan.max_len() });
        }
    }
    match config.engine {
        Engine::AfXdp => send_af_xdp(config, &plan, iface, ifindex, stop),
        Engine::Live => live::send_live(config, &plan, iface, ifindex, stop),
        Engine::LiveReference => live::send_reference(config, iface, ifindex, stop),
    }
}

fn has_wire_vlan(template: &Template) -> bool {
    template.tunnel.map_or(template.plain.vlan.is_some(), |t| t.vlan.is_some())
}

fn send_af_xdp(
    config: &GenConfig,
    plan: &FramePlan,
    iface: &str,
    ifindex: u32,
    stop: &AtomicBool,
) -> Result<GenReport, GenError> {
    let (umem, frames) =
        Umem::create(&UmemConfig { frame_size: 2048, frame_count: 2 * TX_RING, hugepages: false, numa_node: None })
            .map_err(GenError::Umem)?;
    // The fill ring is required by the kernel even for a socket that only sends.
    let sizes = RingSizes { fill: 64, comp: TX_RING, rx: 0, tx: TX_RING };
    let mut socket =
        open_owner_socket(&umem, iface, ifindex, config.queue, sizes, (config.mode, TxMetadata::Off), false)
            .map_err(GenError::port(iface))?;
    let _ = socket.set_tx_budget(BURST as u32 * 4);

    let mut free: Vec<Frame> = frames;
    let mut batch: Vec<Frame> = Vec::with_capacity(BURST);
    let mut done: Vec<Frame> = Vec::with_capacity(TX_RING as usize);
    // Bursts of at most 1 frame per token (paced traffic is smooth), or of --burst.
    let mut pacer = config.rate.map(|rate| Pacer::new(rate, config.burst.unwrap_or(1) as usize));
    let limit = config.count.unwrap_or(u64::MAX);
    let (mut submitted, mut completed) = (0u64, 0u64);
    let mut burst_left = 0usize;
    let start = Instant::now();
    let fd = socket.raw_fd();
    let tx = socket.tx.as_mut().expect("the socket has a tx ring");

    let reap = |comp: &mut umem::CompRing, free: &mut Vec<Frame>, done: &mut Vec<Frame>| {
        let n = comp.complete_into(done, TX_RING);
        free.append(done);
        n as u64
    };

    while submitted < limit && !stop.load(Ordering::Relaxed) {
        if config.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        completed += reap(&mut socket.comp, &mut free, &mut done);
        let mut want = BURST.min(free.len()).min((limit - submitted) as usize);
        match (&mut pacer, config.burst) {
            // --burst N: wait for N tokens, then send them back to back.
            (Some(pacer), Some(burst)) => {
                if burst_left == 0 {
                    burst_left = pacer.allow(burst as usize, stop);
                }
                want = want.min(burst_left);
            }
            (Some(pacer), None) => want = pacer.allow(want, stop),
            (None, _) => {}
        }
        if want > 0 {
            batch.extend(free.drain(free.len() - want..));
            // Frame `submitted + j` in the j-th slot; frames the ring does not take are
            // written again (same index) next time, so sequence numbers have no holes.
            let now = pmd::clock::monotonic_ns();
            for (j, frame) in batch.iter_mut().enumerate() {
                let len = plan.write(submitted + j as u64, now, umem.buffer_mut(frame))?;
                frame.set_len(len);
            }
            let taken = tx.send_from(&mut batch);
            submitted += taken as u64;
            burst_left = burst_left.saturating_sub(taken);
            free.append(&mut batch);
        }
        if tx.needs_wakeup() && tx.in_flight() > 0 {
            pmd::af_xdp::sys::kick_tx(fd).map_err(|source| GenError::Kick { iface: iface.to_string(), source })?;
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
    // The ring completes in order: the completed frames are the first ones.
    Ok(GenReport {
        sent: completed,
        bytes: plan.bytes_of_first(completed),
        bad_csum: plan.bad_in_first(completed),
        seconds: start.elapsed().as_secs_f64(),
        generated: None,
        xmit_errors: None,
        offered_src: "af-xdp-completions",
        stream: Some(plan.stream),
    })
}
