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

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pmd::af_xdp::{open_owner_socket, RingSizes};
use pmd::{netdev, BindMode};
use umem::{Frame, Umem, UmemConfig};

use crate::stamp::Stamp;
use crate::template::{FrameSize, Template, MAX_FRAME};
use wire::checks::CsumLayer;

pub mod live;
pub mod patch;
pub mod prog;

/// How frames are put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// AF_XDP transmit: in copy mode every frame becomes an skb (about 0.5 Mpps per core
    /// on veth).
    AfXdp,
    /// `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`: the kernel runs the generator's XDP
    /// program ([`prog`]) on copies of a base frame; it turns each into the plan's next frame
    /// and it leaves through the interface's XDP transmit path (millions of frames per second
    /// per core). The receiving side needs an XDP program or GRO. Creates an `ifb` device
    /// (`dpgen<pid>`) for the run: see [`live`].
    Live,
    /// A bench helper, not a product path: the bare live-frames loop (one 60-byte frame, an
    /// XDP_TX program kept attached to an ifb), the reference the live engine is measured
    /// against.
    LiveReference,
}

/// `--bad-csum PCT [--bad-csum-layer LAYER]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadCsum {
    /// 0 to 100: that share of frames, spread evenly (frame i is bad when
    /// floor((i+1)·p) > floor(i·p), p = percent/100), so N frames hold exactly floor(N·p) bad ones.
    pub percent: f64,
    /// The layer whose checksum is wrong; `None`: each layer the template has in turn.
    pub layer: Option<CsumLayer>,
}

/// Which frame is which: template, flow, size, bad checksum and stamp of frame `index`.
#[derive(Clone, Debug)]
pub struct FramePlan {
    template: Template,
    sizes: FrameSize,
    flows: u32,
    bad: Option<BadCsum>,
    /// The layers a bad checksum goes to, in turn.
    bad_layers: Vec<CsumLayer>,
    stream: u16,
    sequenced: bool,
}

impl FramePlan {
    /// `sequenced`: stamps carry the frame index (false: [`crate::stamp::MAGIC_STATIC`]
    /// stamps, for frames repeated as the same bytes).
    pub fn new(
        template: Template,
        sizes: FrameSize,
        flows: u32,
        bad: Option<BadCsum>,
        sequenced: bool,
    ) -> Result<FramePlan, String> {
        template.validate()?;
        if flows == 0 {
            return Err("--flows 0: give at least 1".into());
        }
        let available = template.csum_layers();
        let bad_layers = match bad {
            Some(b) if !(b.percent.is_finite() && (0.0..=100.0).contains(&b.percent)) => {
                return Err(format!("--bad-csum {}: give a percentage from 0 to 100", b.percent))
            }
            Some(BadCsum { layer: Some(layer), .. }) if !available.contains(&layer) => {
                let names: Vec<&str> = available.iter().map(|l| l.name()).collect();
                return Err(format!(
                    "{} frames have no {} checksum; they have: {}",
                    template.describe(),
                    layer.name(),
                    names.join(", ")
                ));
            }
            Some(BadCsum { layer: Some(layer), .. }) => vec![layer],
            _ => available,
        };
        // Tells generator runs apart at the sink; any value will do, as long as two runs
        // in a row differ.
        let stream = (pmd::clock::monotonic_ns() ^ u64::from(std::process::id()) << 7) as u16;
        Ok(FramePlan { template, sizes, flows, bad, bad_layers, stream, sequenced })
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The stream id in this run's stamps.
    pub fn stream(&self) -> u16 {
        self.stream
    }

    /// The length of frame `index`.
    pub fn len_of(&self, index: u64) -> usize {
        self.template.frame_len(self.sizes.at(index))
    }

    /// The largest frame this plan sends.
    pub fn max_len(&self) -> usize {
        match self.sizes {
            FrameSize::Fixed(size) => self.template.frame_len(size),
            FrameSize::Imix => crate::template::IMIX.iter().map(|&s| self.template.frame_len(s)).max().unwrap_or(0),
        }
    }

    /// True when the smallest frame has room for the stamp.
    pub fn stamped(&self) -> bool {
        match self.sizes {
            FrameSize::Fixed(size) => self.template.has_stamp_room(size),
            FrameSize::Imix => crate::template::IMIX.iter().all(|&s| self.template.has_stamp_room(s)),
        }
    }

    /// floor(n·p) for the plan's share p, in whole numbers (p is the percentage to four
    /// decimals, [`patch::bad_num`] out of [`patch::BAD_DEN`]): the live engine's program
    /// counts the same way.
    fn bad_before(&self, n: u64) -> u64 {
        self.bad
            .map_or(0, |b| (u128::from(n) * u128::from(patch::bad_num(b.percent)) / u128::from(patch::BAD_DEN)) as u64)
    }

    /// Which checksum of frame `index` is wrong, if any.
    pub fn bad_layer(&self, index: u64) -> Option<CsumLayer> {
        self.bad?;
        let before = self.bad_before(index);
        if self.bad_before(index + 1) > before {
            Some(self.bad_layers[(before % self.bad_layers.len() as u64) as usize])
        } else {
            None
        }
    }

    /// How many of the first `n` frames have a bad checksum.
    pub fn bad_in_first(&self, n: u64) -> u64 {
        self.bad_before(n)
    }

    /// Bytes of the first `n` frames (without FCS).
    pub fn bytes_of_first(&self, n: u64) -> u64 {
        match self.sizes {
            FrameSize::Fixed(size) => n * self.template.frame_len(size) as u64,
            FrameSize::Imix => {
                let cycle = crate::template::IMIX.len() as u64;
                let cycle_bytes: u64 = (0..cycle).map(|i| self.len_of(i) as u64).sum();
                (n / cycle) * cycle_bytes + (0..n % cycle).map(|i| self.len_of(i) as u64).sum::<u64>()
            }
        }
    }

    /// How many of the frames before `index` carry a stamp: the sequence number of frame
    /// `index`, so frames too small for a stamp (IMIX's smallest in a tunnel) leave no holes
    /// that would look like loss.
    pub fn stamped_before(&self, index: u64) -> u64 {
        match self.sizes {
            FrameSize::Fixed(size) => {
                if self.template.has_stamp_room(size) {
                    index
                } else {
                    0
                }
            }
            FrameSize::Imix => {
                let imix = &crate::template::IMIX;
                let stamped =
                    |sizes: &[usize]| sizes.iter().filter(|&&s| self.template.has_stamp_room(s)).count() as u64;
                let cycle = imix.len() as u64;
                index / cycle * stamped(imix) + stamped(&imix[..(index % cycle) as usize])
            }
        }
    }

    /// Writes frame `index` at the start of `out`, stamped with `sent_ns`; returns its length.
    pub fn write(&self, index: u64, sent_ns: u64, out: &mut [u8]) -> Result<usize, String> {
        let template = self.template.for_flow((index % u64::from(self.flows)) as u32);
        let seq = if self.sequenced { self.stamped_before(index) } else { 0 };
        let stamp = Stamp { sequenced: self.sequenced, stream: self.stream, seq, sent_ns };
        template.build_into(out, self.sizes.at(index), self.bad_layer(index), Some(&stamp))
    }
}

pub struct GenConfig {
    pub engine: Engine,
    pub iface: Option<String>,
    pub template: Template,
    pub sizes: FrameSize,
    /// `--flows N`: see [`Template::for_flow`].
    pub flows: u32,
    pub bad_csum: Option<BadCsum>,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub rate: Option<f64>,
    /// `--burst N` (with a rate): frames leave in back-to-back bursts of N at the average
    /// rate.
    pub burst: Option<u32>,
    pub queue: u32,
    pub mode: BindMode,
    pub core: Option<usize>,
    pub pcap: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenReport {
    /// Frames that left the interface: completed by the kernel (af-xdp), or accepted by
    /// the veth's XDP transmit, at most what the program generated (live).
    pub sent: u64,
    /// Their bytes, without FCS.
    pub bytes: u64,
    /// How many of them have a bad checksum.
    pub bad_csum: u64,
    pub seconds: f64,
    /// Live engine: frames its XDP program generated (all CPUs).
    pub generated: Option<u64>,
    /// Live engine: frames the veth's XDP transmit refused (`ethtool -S`), if readable.
    pub xmit_errors: Option<u64>,
    /// How `sent` was counted.
    pub offered_src: &'static str,
    /// The stamps' stream id (live: of the CPU that generated).
    pub stream: Option<u16>,
}

impl GenReport {
    /// The offered rate.
    pub fn pps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.sent as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The offered rate in Gbit/s of frame bytes (without FCS, preamble and gap).
    pub fn gbps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 * 8.0 / self.seconds / 1e9
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
                // At most a second at a time: a slow rate still sees `stop` soon, and a wait
                // that no Duration can hold (a tiny rate) is never built.
                std::thread::sleep(Duration::from_secs_f64((wait * 0.8).min(1.0)));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

pub fn generate(config: &GenConfig, stop: &AtomicBool) -> Result<GenReport, String> {
    // Both engines number every frame (the live engine in its XDP program).
    let plan = FramePlan::new(config.template, config.sizes, config.flows, config.bad_csum, true)?;
    if let Some(path) = &config.pcap {
        let count = config.count.unwrap_or(1);
        let mut writer = pmd::pcap::create_capture(path).map_err(|e| e.to_string())?;
        let mut frame = vec![0u8; MAX_FRAME];
        // The capture holds what the af-xdp engine would send: sequenced stamps.
        let file_plan = FramePlan { sequenced: true, ..plan.clone() };
        for index in 0..count {
            let len = file_plan.write(index, pmd::clock::monotonic_ns(), &mut frame)?;
            let packet = pcap_file::pcap::PcapPacket::new(Duration::ZERO, len as u32, &frame[..len]);
            writer.write_packet(&packet).map_err(|e| format!("{}: {e}", path.display()))?;
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
        // The MTU counts from the outermost IP header: a VLAN tag on the wire is extra.
        let l2 = crate::template::ETH_HEADER + if has_wire_vlan(&config.template) { 4 } else { 0 };
        if plan.max_len() > mtu as usize + l2 {
            return Err(format!("a {}-byte frame does not fit the MTU of {iface} ({mtu})", plan.max_len()));
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
) -> Result<GenReport, String> {
    let (umem, frames) = Umem::create(&UmemConfig { frame_size: 2048, frame_count: 2 * TX_RING, hugepages: false })
        .map_err(|e| format!("UMEM: {e}"))?;
    // The fill ring is required by the kernel even for a socket that only sends.
    let sizes = RingSizes { fill: 64, comp: TX_RING, rx: 0, tx: TX_RING };
    let mut socket =
        open_owner_socket(&umem, iface, ifindex, config.queue, sizes, config.mode).map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::TemplateKind;

    fn plan(sizes: FrameSize, flows: u32, bad: Option<BadCsum>) -> FramePlan {
        FramePlan::new(Template::new(TemplateKind::Vxlan, false), sizes, flows, bad, true).unwrap()
    }

    #[test]
    fn bad_checksums_are_exact_and_take_turns() {
        let p = plan(FrameSize::Fixed(128), 1, Some(BadCsum { percent: 10.0, layer: None }));
        let bad: Vec<(u64, CsumLayer)> = (0..1000).filter_map(|i| p.bad_layer(i).map(|l| (i, l))).collect();
        assert_eq!(bad.len(), 100);
        assert_eq!(p.bad_in_first(1000), 100);
        assert_eq!(bad[0].0, 9, "spread out, not the first ten");
        let layers = Template::new(TemplateKind::Vxlan, false).csum_layers();
        for (n, (_, layer)) in bad.iter().enumerate() {
            assert_eq!(*layer, layers[n % layers.len()]);
        }
        let all = plan(FrameSize::Fixed(128), 1, Some(BadCsum { percent: 100.0, layer: Some(CsumLayer::InnerL4) }));
        assert!((0..50).all(|i| all.bad_layer(i) == Some(CsumLayer::InnerL4)));
        assert!(plan(FrameSize::Fixed(128), 1, None).bad_layer(3).is_none());
    }

    #[test]
    fn plans_refuse_what_cannot_be() {
        let t = Template::new(TemplateKind::Udp, true);
        let no_l3 = Some(BadCsum { percent: 1.0, layer: Some(CsumLayer::OuterL3) });
        let why = FramePlan::new(t, FrameSize::Fixed(100), 1, no_l3, true).unwrap_err();
        assert!(why.contains("no outer_l3 checksum") && why.contains("outer_l4"), "{why}");
        assert!(FramePlan::new(t, FrameSize::Fixed(100), 0, None, true).is_err());
        let over = Some(BadCsum { percent: 101.0, layer: None });
        assert!(FramePlan::new(t, FrameSize::Fixed(100), 1, over, true).is_err());
    }

    #[test]
    fn imix_bytes_and_frames_agree() {
        let p = plan(FrameSize::Imix, 3, None);
        let mut buf = [0u8; MAX_FRAME];
        let mut total = 0;
        for i in 0..30 {
            let len = p.write(i, 0, &mut buf).unwrap();
            assert_eq!(len, p.len_of(i));
            total += len as u64;
        }
        assert_eq!(p.bytes_of_first(30), total);
        // VXLAN over IPv4 needs 92 bytes of headers: the 60-byte IMIX frames grow to 92.
        assert_eq!(p.len_of(0), 92);
        assert_eq!(p.max_len(), 1514);
        assert!(!p.stamped(), "a 92-byte VXLAN frame has no room for the stamp");
    }

    #[test]
    fn sequence_numbers_skip_frames_without_a_stamp() {
        // VXLAN over IPv6 with IMIX: the 60-byte entries become 132-byte frames, no room.
        let p = FramePlan::new(Template::new(TemplateKind::Vxlan, true), FrameSize::Imix, 1, None, true).unwrap();
        let mut buf = [0u8; MAX_FRAME];
        let mut seqs = Vec::new();
        for i in 0..36 {
            let len = p.write(i, 0, &mut buf).unwrap();
            let offsets = wire::walk(&buf[..len], &wire::WalkConfig::default()).unwrap();
            if let Some(stamp) = crate::stamp::find(&buf[..len], &offsets) {
                assert_eq!(stamp.seq, p.stamped_before(i));
                seqs.push(stamp.seq);
            }
        }
        assert_eq!(seqs, (0..15).collect::<Vec<u64>>(), "5 of every 12 have room, numbered without holes");
    }

    #[test]
    fn each_frame_carries_its_index_and_flow() {
        let p = FramePlan::new(Template::new(TemplateKind::Tcp, true), FrameSize::Fixed(200), 4, None, true).unwrap();
        let mut buf = [0u8; MAX_FRAME];
        for i in 0..8u64 {
            let len = p.write(i, 1000 + i, &mut buf).unwrap();
            let offsets = wire::walk(&buf[..len], &wire::WalkConfig::default()).unwrap();
            let stamp = crate::stamp::find(&buf[..len], &offsets).unwrap();
            assert_eq!((stamp.seq, stamp.sent_ns, stamp.stream, stamp.sequenced), (i, 1000 + i, p.stream(), true));
            let l4 = offsets.innermost().l4.unwrap();
            assert_eq!(u16::from_be_bytes([buf[l4.offset], buf[l4.offset + 1]]), 1024 + (i % 4) as u16);
        }
    }
}
