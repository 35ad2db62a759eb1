//! `dataplane sink`: counts every frame that arrives on an interface.
//!
//! Two engines:
//! - `xdp` (the default): an XDP program ([`pmd::sink_prog`]) counts in the kernel, at any
//!   rate the generator reaches, and drops. It finds the generator's stamp
//!   ([`crate::stamp`]) without parsing headers: [`stamp_candidates`] builds a frame of
//!   every template the generator has (udp, tcp, vxlan, gre, geneve; IPv4 and IPv6, inner
//!   and outer; with and without VLAN tags) and walks it to find where its stamp lies and
//!   which length field (innermost UDP length, or IP length for TCP) confirms it; the
//!   program tries those offsets in ascending order, taking the first that holds a sequenced
//!   stamp and the right length. Per stream (generator run) and per CPU it keeps the highest
//!   sequence number, the frames received, reordered, duplicated (a window of about the last
//!   1024 numbers) and late (older than that window: counted as received, not as duplicates),
//!   and a log-linear latency histogram (stamp send time to `bpf_ktime_get_ns`, both
//!   `CLOCK_MONOTONIC`; 8 sub-buckets per power of two, so percentiles are bucket upper
//!   bounds within 12.5 %; the maximum is exact; duplicates are left out, send times in the
//!   future count as `latency_invalid`). `--latency-every N` measures only sequence numbers
//!   that are multiples of N, to save the clock read. Frames without a sequenced stamp
//!   (none, a static one, another sender) count as `unsequenced`. User space merges the CPUs
//!   (see [`crate::sink_prog::SinkProgram::read`]): `lost` per stream is the highest + 1
//!   minus the distinct numbers received.
//! - `af-xdp`: an AF_XDP socket per receive queue (copy mode on veth) hands every frame to
//!   user space, which finds the generator's stamp ([`crate::stamp`]) behind whatever
//!   headers the frame has (tunnels included) and counts loss, reordering and duplicates per
//!   generator run, and the latency from the stamp's send time (same machine, same
//!   `CLOCK_MONOTONIC`). Slower than `xdp` (about 1.4 Mpps per core on veth): when it cannot
//!   keep up, the kernel drops frames for want of fill-ring slots and the report shows them
//!   as `dropped_by_sink`, not as network loss. It stays for frame-level inspection.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::sink_prog::{SinkProgram, StampCandidate};
use pmd::af_xdp::AfXdpDevice;
use pmd::{netdev, BindMode, Port, PortSpec, Umems, BURST};
use umem::{Frame, UmemConfig};

use crate::rate::format_pps;
use crate::stamp::{self, Stamp};
use crate::template::{Template, TemplateKind, TunnelType, Vlan};
use wire::{walk_into, L3Kind, L4Kind, Offsets, WalkConfig};

/// A lower crate's error (pmd's), kept whole as the source.
type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// What stopped `dataplane sink`; each message says what to change.
#[derive(Debug)]
pub enum SinkError {
    /// The interface or its sockets (privileges, lookup, AF_XDP bind and attach).
    Port {
        /// The interface.
        iface: String,
        /// pmd's error, which names the interface and the fix.
        source: BoxedError,
    },
    /// `ip` could not be run to check the interface for addresses.
    IpCommand {
        /// The interface.
        iface: String,
        /// Why `ip` did not start.
        source: io::Error,
    },
    /// `ip ARGS` failed.
    IpFailed {
        /// The arguments.
        args: String,
        /// What `ip` said.
        stderr: String,
    },
    /// `ip -j ARGS` printed something that is not JSON.
    IpJson {
        /// The arguments.
        args: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The interface carries addresses or a default route: the sink would cut the machine
    /// off that network.
    Addressed {
        /// The interface.
        iface: String,
        /// What it carries (`address 192.0.2.7/24`, `a default route via ...`).
        carries: Vec<String>,
    },
    /// The sink's XDP program or its maps.
    Bpf(bpf::Error),
    /// The counting program could not be attached.
    Attach {
        /// The interface.
        iface: String,
        /// The bpf(2) error with its errno.
        source: bpf::Error,
    },
    /// The UMEM could not be made (memory, locked-memory limit).
    Umem(pmd::Error),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Port { source, .. } => write!(f, "{source}"),
            SinkError::IpCommand { iface, source } => {
                write!(f, "sink: cannot run `ip` to check {iface} for addresses ({source}); --force skips the check")
            }
            SinkError::IpFailed { args, stderr } => write!(f, "sink: ip {args}: {stderr}"),
            SinkError::IpJson { args, source } => write!(f, "sink: reading `ip {args}`: {source}"),
            SinkError::Addressed { iface, carries } => write!(
                f,
                "sink: {iface} carries {}: the sink drops every frame arriving there, which would cut this machine \
                 off that network. Use an interface of its own (a veth of a test namespace), or --force if you mean it",
                carries.join(", ")
            ),
            SinkError::Bpf(error) => write!(f, "{error}"),
            SinkError::Attach { iface, source } => write!(f, "cannot attach the counting program to {iface}: {source}"),
            SinkError::Umem(source) => write!(f, "UMEM: {source}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Port { source, .. } => Some(source.as_ref()),
            SinkError::IpCommand { source, .. } => Some(source),
            SinkError::Umem(source) => Some(source),
            SinkError::IpJson { source, .. } => Some(source),
            SinkError::Bpf(source) | SinkError::Attach { source, .. } => Some(source),
            SinkError::IpFailed { .. } | SinkError::Addressed { .. } => None,
        }
    }
}

impl SinkError {
    /// Wraps pmd's error about `iface` (for `map_err`).
    fn port<E: Into<BoxedError>>(iface: &str) -> impl FnOnce(E) -> SinkError + '_ {
        move |error| SinkError::Port { iface: iface.to_string(), source: error.into() }
    }
}

impl From<bpf::Error> for SinkError {
    fn from(error: bpf::Error) -> Self {
        SinkError::Bpf(error)
    }
}

/// How the sink counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkEngine {
    /// Count in an XDP program: packets, bytes, sequence state and latency.
    Xdp,
    /// Count packets and bytes only (a per-CPU counter, then XDP_DROP): the cheapest
    /// receiver there is, for measuring a generator.
    Count,
    /// Receive with AF_XDP and read the stamps.
    AfXdp,
}

/// `dataplane sink`'s settings, from its command line.
pub struct SinkConfig {
    /// The interface to count on.
    pub iface: String,
    /// Stop after this long (`None`: at `stop`).
    pub duration: Option<Duration>,
    /// Print a progress line this often (None: only the total).
    pub interval: Option<Duration>,
    /// How frames are counted.
    pub engine: SinkEngine,
    /// AF_XDP bind mode (the af-xdp engine).
    pub mode: BindMode,
    /// The xdp engine measures the latency of frames whose sequence number is a multiple of
    /// this (a power of two; 1: every frame).
    pub latency_every: u32,
    /// `--force`: attach even to an interface that carries IP addresses or a default route
    /// (see [`check_unaddressed`]).
    pub force: bool,
}

/// What the sink counted.
#[derive(Clone, Debug, PartialEq)]
pub struct SinkReport {
    /// Frames that arrived.
    pub packets: u64,
    /// Their bytes, without FCS.
    pub bytes: u64,
    /// From attach to stop.
    pub seconds: f64,
    /// From the first sample that saw packets to the last one that saw the count grow: the
    /// time traffic was really arriving.
    pub active_seconds: f64,
    /// Sequence and latency counts (both engines).
    pub sequence: Option<SequenceReport>,
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

    /// The `--json` line.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "packets": self.packets, "delivered": self.packets, "bytes": self.bytes, "seconds": self.seconds,
            "active_seconds": self.active_seconds, "pps": self.pps(),
            "lost": null, "reordered": null, "duplicates": null, "late": null,
            "latency_ns": null,
        });
        if let Some(s) = &self.sequence {
            json["lost"] = s.lost.into();
            json["reordered"] = s.reordered.into();
            json["duplicates"] = s.duplicates.into();
            json["late"] = s.late.into();
            json["latency_invalid"] = s.latency_invalid.into();
            json["stream_overflow"] = s.stream_overflow.into();
            json["latency_every"] = s.latency_every.max(1).into();
            json["sequenced"] = s.sequenced.into();
            json["unsequenced"] = s.unsequenced.into();
            json["streams"] = s.streams.into();
            json["dropped_by_sink"] = s.dropped_by_sink.into();
            if let Some(l) = &s.latency {
                json["latency_ns"] = serde_json::json!({"p50": l.p50, "p90": l.p90, "p99": l.p99, "max": l.max});
            }
            if let Some(c) = &s.latency_clock {
                json["latency_clock"] = serde_json::json!({
                    "rx_timestamp": c.rx_timestamp, "xdp_time": c.xdp_time, "receive": c.receive,
                    "rx_timestamp_implausible": c.rx_timestamp_implausible,
                });
            }
        }
        json
    }
}

/// What the stamps tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SequenceReport {
    /// Frames with a sequenced stamp (from the af-xdp engine).
    pub sequenced: u64,
    /// Frames without one: no stamp (no room, another sender) or a live-engine stamp.
    pub unsequenced: u64,
    /// Sequence numbers from 0 to the highest seen that never arrived, over all generator
    /// runs seen. Frames lost after the last one that arrived cannot be seen (compare the
    /// generator's count), nor frames sent before the sink started: start the sink first.
    pub lost: u64,
    /// Frames that arrived after a frame with a higher sequence number.
    pub reordered: u64,
    /// Frames whose sequence number had arrived already (within the last 65536 for the
    /// af-xdp engine, the last 1024 for the xdp engine).
    pub duplicates: u64,
    /// Frames older than the duplicate window when they arrived (xdp engine; the af-xdp
    /// engine counts them as reordered): taken as not seen before.
    pub late: u64,
    /// Sequenced frames whose send time lies in the future (another clock, garbage): not in
    /// the latency figures.
    pub latency_invalid: u64,
    /// Sequenced frames of streams beyond what the xdp engine tracks at once (256).
    pub stream_overflow: u64,
    /// The latency figures are of frames whose sequence number is a multiple of this (0 or
    /// 1: every frame).
    pub latency_every: u32,
    /// Generator runs (stamp stream ids) seen.
    pub streams: usize,
    /// Frames the kernel dropped at this socket for want of fill-ring slots or rx-ring room:
    /// the sink did not keep up (`XDP_STATISTICS`).
    pub dropped_by_sink: u64,
    /// Latency percentiles (`None`: no sequenced frame arrived).
    pub latency: Option<LatencySummary>,
    /// af-xdp engine: which clock ended each frame's latency (`None`: the xdp engine, whose
    /// program reads `bpf_ktime_get_ns` itself).
    pub latency_clock: Option<LatencyClocks>,
}

/// Where the af-xdp engine took each frame's arrival time from, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyClocks {
    /// The device's RX timestamp (an RX hint), taken as `CLOCK_TAI` (a PHC kept on TAI by
    /// ptp4l/phc2sys, as the kernel's xdp_hw_metadata tool reads it) and brought to
    /// `CLOCK_MONOTONIC` by the offset between the two clocks.
    pub rx_timestamp: u64,
    /// The redirect program's `CLOCK_MONOTONIC` (an RX hint where the device has no
    /// timestamp, e.g. veth).
    pub xdp_time: u64,
    /// The sink's own clock, read after the receive (no hints, or none for this frame).
    pub receive: u64,
    /// Device timestamps not used: later than now or more than a second old once brought
    /// to `CLOCK_MONOTONIC` (a PHC not kept on TAI); the receive clock was used instead.
    pub rx_timestamp_implausible: u64,
}

/// Which clock [`arrival_time`] chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrivalClock {
    /// The device's RX timestamp.
    RxTimestamp,
    /// The XDP program's clock.
    XdpTime,
    /// The receive clock (no usable hint).
    Receive,
    /// A device timestamp that was not plausible: the receive clock.
    RxTimestampImplausible,
}

/// A device timestamp more than this older than the receive is taken as another clock.
const RX_TIMESTAMP_MAX_AGE_NS: u64 = 1_000_000_000;

/// The arrival time (`CLOCK_MONOTONIC` ns) of a frame received at `now_ns`, from its RX
/// hints when they have a time: the device's timestamp (on `CLOCK_TAI`, `tai_minus_mono`
/// ns ahead of `CLOCK_MONOTONIC`) if it lands within the last second, else the XDP
/// program's time, else `now_ns`.
pub fn arrival_time(hints: Option<&pmd::rx_hints::RxHints>, now_ns: u64, tai_minus_mono: i64) -> (u64, ArrivalClock) {
    let Some(hints) = hints else { return (now_ns, ArrivalClock::Receive) };
    if let Some(stamp) = hints.timestamp {
        let mono = stamp as i64 - tai_minus_mono;
        return match u64::try_from(mono) {
            Ok(mono) if mono <= now_ns && now_ns - mono <= RX_TIMESTAMP_MAX_AGE_NS => (mono, ArrivalClock::RxTimestamp),
            _ => (now_ns, ArrivalClock::RxTimestampImplausible),
        };
    }
    match hints.xdp_time {
        Some(time) if time <= now_ns => (time, ArrivalClock::XdpTime),
        _ => (now_ns, ArrivalClock::Receive),
    }
}

impl LatencyClocks {
    fn count(&mut self, clock: ArrivalClock) {
        match clock {
            ArrivalClock::RxTimestamp => self.rx_timestamp += 1,
            ArrivalClock::XdpTime => self.xdp_time += 1,
            ArrivalClock::Receive => self.receive += 1,
            ArrivalClock::RxTimestampImplausible => {
                self.rx_timestamp_implausible += 1;
                self.receive += 1;
            }
        }
    }
}

/// Latency percentiles, ns: bucket upper bounds (the maximum is exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencySummary {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// The largest latency seen.
    pub max: u64,
}

const SAMPLE: Duration = Duration::from_millis(50);

/// Counts on `config.iface` until `stop` is set or the duration ends; `ready` runs once the
/// counting has started.
pub fn sink(config: &SinkConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<SinkReport, SinkError> {
    netdev::check_privileges().map_err(SinkError::port(&config.iface))?;
    if !config.force {
        check_unaddressed(&config.iface)?;
    }
    netdev::raise_memlock_limit();
    match config.engine {
        SinkEngine::Xdp => sink_xdp(config, stop, ready),
        SinkEngine::Count => sink_count(config, stop, ready),
        SinkEngine::AfXdp => sink_af_xdp(config, stop, ready),
    }
}

/// The sink drops every frame of its interface: on one that carries IP addresses or a
/// default route (an uplink, the machine's management interface) that cuts the machine
/// off. Refuses such an interface, saying what it carries. IPv6 link-local addresses
/// (fe80::/10, on every interface that is up) do not count. Asks `ip -j` (iproute2).
pub fn check_unaddressed(iface: &str) -> Result<(), SinkError> {
    let ip_json = |args: &[&str]| -> Result<serde_json::Value, SinkError> {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .map_err(|source| SinkError::IpCommand { iface: iface.to_string(), source })?;
        if !out.status.success() {
            return Err(SinkError::IpFailed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // `ip -j` prints nothing at all (not `[]`) for some empty answers.
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Array(Vec::new()));
        }
        serde_json::from_str(&text).map_err(|source| SinkError::IpJson { args: args.join(" "), source })
    };
    let mut carries = Vec::new();
    let links = ip_json(&["-j", "addr", "show", "dev", iface])?;
    for info in links.as_array().into_iter().flatten().filter_map(|l| l["addr_info"].as_array()).flatten() {
        if info["scope"] == "link" && info["family"] == "inet6" {
            continue;
        }
        carries.push(format!(
            "address {}/{}",
            info["local"].as_str().unwrap_or("?"),
            info["prefixlen"].as_u64().map_or("?".to_string(), |p| p.to_string())
        ));
    }
    for family in ["-4", "-6"] {
        let routes = ip_json(&["-j", family, "route", "show", "default", "dev", iface])?;
        for route in routes.as_array().into_iter().flatten() {
            carries.push(match route["gateway"].as_str() {
                Some(gateway) => format!("a default route via {gateway}"),
                None => "a default route".to_string(),
            });
        }
    }
    if carries.is_empty() {
        return Ok(());
    }
    Err(SinkError::Addressed { iface: iface.to_string(), carries })
}

fn sink_xdp(config: &SinkConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<SinkReport, SinkError> {
    let program = SinkProgram::load_sampled(&stamp_candidates(), config.latency_every)?;
    let (start, active_seconds) = count_until_stopped(config, stop, ready, program.program(), || program.packets())?;
    let counts = program.read()?;
    Ok(SinkReport {
        packets: counts.packets,
        bytes: counts.bytes,
        seconds: start.elapsed().as_secs_f64(),
        active_seconds,
        sequence: Some(SequenceReport { latency_every: config.latency_every, ..sequence_report(&counts) }),
    })
}

fn sink_count(config: &SinkConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<SinkReport, SinkError> {
    let counter = pmd::xdp_prog::XdpCounter::load()?;
    let read = || counter.read().map(|(packets, _)| packets);
    let (start, active_seconds) = count_until_stopped(config, stop, ready, counter.program(), read)?;
    let (packets, bytes) = counter.read()?;
    Ok(SinkReport { packets, bytes, seconds: start.elapsed().as_secs_f64(), active_seconds, sequence: None })
}

/// Attaches `program` to the sink's interface and samples `packets` until stopped (or the
/// duration ends), printing progress; returns the start and the seconds traffic arrived.
fn count_until_stopped(
    config: &SinkConfig,
    stop: &AtomicBool,
    ready: impl FnOnce(),
    program: &bpf::Program,
    packets: impl Fn() -> Result<u64, bpf::Error>,
) -> Result<(Instant, f64), SinkError> {
    let ifindex = netdev::ifindex(&config.iface).map_err(SinkError::port(&config.iface))?;
    let (_link, _mode) = bpf::Link::attach_xdp_auto(program, ifindex)
        .map_err(|source| SinkError::Attach { iface: config.iface.clone(), source })?;
    ready();
    let start = Instant::now();
    let mut activity = Activity::default();
    let mut progress = Progress::new(start);
    while !stop.load(Ordering::Relaxed) && config.duration.is_none_or(|d| start.elapsed() < d) {
        std::thread::sleep(SAMPLE);
        let count = packets()?;
        activity.sample(count, Instant::now());
        progress.maybe_print(config.interval, count, start);
    }
    activity.sample(packets()?, Instant::now());
    Ok((start, activity.seconds()))
}

/// The xdp engine's counts in the report's terms.
fn sequence_report(c: &crate::sink_prog::SinkCounts) -> SequenceReport {
    let latency = match (c.latency_quantile(0.5), c.latency_quantile(0.9), c.latency_quantile(0.99)) {
        (Some(p50), Some(p90), Some(p99)) => Some(LatencySummary { p50, p90, p99, max: c.latency_max }),
        _ => None,
    };
    SequenceReport {
        sequenced: c.sequenced,
        unsequenced: c.unsequenced,
        lost: c.lost(),
        reordered: c.reordered(),
        duplicates: c.duplicates(),
        late: c.late(),
        latency_invalid: c.latency_invalid,
        stream_overflow: c.stream_overflow,
        streams: c.streams.len(),
        // XDP sees every frame the interface receives: the sink drops none unseen.
        dropped_by_sink: 0,
        latency_every: 1,
        latency,
        latency_clock: None,
    }
}

/// One frame of every template the generator sends, in every variant that moves the stamp:
/// each kind, IPv4 and IPv6 (a tunnel's outer and inner family independently), with and
/// without an outer VLAN tag, and for tunnels carrying Ethernet with and without an inner
/// tag; GRE with IP or Ethernet inside, with and without a key. Each has room for a stamp.
pub fn stamp_templates() -> Vec<Template> {
    let vlans = [None, Some(Vlan { id: 100, pcp: 0 })];
    let mut templates = Vec::new();
    for kind in TemplateKind::ALL {
        for outer_v6 in [false, true] {
            for inner_v6 in [false, true] {
                if kind.tunnel().is_none() && inner_v6 != outer_v6 {
                    continue;
                }
                let mut base = Template::new(kind, inner_v6);
                if let (Some(tunnel), Some(outer)) = (&mut base.tunnel, Template::new(kind, outer_v6).tunnel) {
                    (tunnel.src_ip, tunnel.dst_ip) = (outer.src_ip, outer.dst_ip);
                }
                for outer_vlan in vlans {
                    let mut t = base;
                    t.set_outer_vlan(outer_vlan);
                    let mut variants = vec![t];
                    if let Some(tunnel) = t.tunnel {
                        let mut inner = Vec::new();
                        if tunnel.kind == TunnelType::Gre {
                            for key in [tunnel.key, None] {
                                let mut g = t;
                                g.tunnel.as_mut().expect("a tunnel").key = key;
                                inner.push(g);
                                g.plain.l2 = true;
                                inner.push(g);
                            }
                        } else {
                            inner.push(t);
                        }
                        variants = Vec::new();
                        for v in inner {
                            variants.push(v);
                            if v.plain.l2 {
                                let mut tagged = v;
                                tagged.plain.vlan = vlans[1];
                                variants.push(tagged);
                            }
                        }
                    }
                    for mut v in variants {
                        v.size = v.headers_len() + stamp::STAMP_LEN;
                        templates.push(v);
                    }
                }
            }
        }
    }
    templates
}

/// Where the stamp of a frame of `template` starts, and the length field that confirms it,
/// found by building one with a stamp and walking it (as the af-xdp sink does); None if it
/// has no stamp.
pub fn stamp_candidate(template: &Template) -> Option<StampCandidate> {
    let mut frame = vec![0u8; template.frame_len(template.size)];
    let stamp = Stamp { sequenced: true, stream: 1, seq: 0, sent_ns: 1 };
    let len = template.build_into(&mut frame, template.size, None, Some(&stamp)).ok()?;
    let frame = &frame[..len];
    let mut offsets = Offsets::default();
    walk_into(frame, &WalkConfig::default(), &mut offsets).ok()?;
    let at = stamp::payload_offset(frame, &offsets)?;
    if stamp::find(frame, &offsets) != Some(stamp) {
        return None;
    }
    let inner = offsets.innermost();
    let l4 = inner.l4?;
    let (len_field, len_base) = match (l4.kind, inner.l3?.kind) {
        // RFC 768: the length (header and data) at byte 4.
        (L4Kind::Udp, _) => (l4.offset + 4, l4.offset),
        // RFC 791 section 3.1: the total length at byte 2.
        (_, L3Kind::Ipv4) => (inner.l3?.offset + 2, inner.l3?.offset),
        // RFC 8200 section 3: the payload length (after the 40-byte header) at byte 4.
        (_, L3Kind::Ipv6) => (inner.l3?.offset + 4, inner.l3?.offset + wire::ipv6::HEADER_LEN),
    };
    let number = |n: usize| u16::try_from(n).ok();
    Some(StampCandidate { offset: number(at)?, len_field: number(len_field)?, len_base: number(len_base)? })
}

/// Where the stamp of a frame of `template` starts (see [`stamp_candidate`]).
pub fn stamp_offset(template: &Template) -> Option<usize> {
    stamp_candidate(template).map(|c| usize::from(c.offset))
}

/// The stamp candidates of [`stamp_templates`], in the order the xdp engine's program tries
/// them (ascending offset), without repeats.
pub fn stamp_candidates() -> Vec<StampCandidate> {
    let mut candidates: Vec<StampCandidate> = stamp_templates().iter().filter_map(stamp_candidate).collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

/// When traffic arrived: from the first sample that saw packets to the last one that saw
/// the count grow.
#[derive(Default)]
struct Activity {
    last_count: u64,
    first_seen: Option<Instant>,
    last_growth: Option<Instant>,
    last_sample: Option<Instant>,
}

impl Activity {
    fn sample(&mut self, count: u64, now: Instant) {
        if count > self.last_count {
            // Packets arrived during the sample that just ended.
            self.first_seen.get_or_insert(self.last_sample.unwrap_or(now - SAMPLE));
            self.last_growth = Some(now);
        }
        self.last_count = count;
        self.last_sample = Some(now);
    }

    fn seconds(&self) -> f64 {
        match (self.first_seen, self.last_growth) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

struct Progress {
    last: (Instant, u64),
}

impl Progress {
    fn new(start: Instant) -> Progress {
        Progress { last: (start, 0) }
    }

    fn maybe_print(&mut self, interval: Option<Duration>, packets: u64, start: Instant) {
        let Some(interval) = interval else { return };
        let now = Instant::now();
        if now - self.last.0 >= interval {
            let rate = (packets - self.last.1) as f64 / (now - self.last.0).as_secs_f64();
            eprintln!("{:6.1}s  {:>11}  total {packets}", (now - start).as_secs_f64(), format_pps(rate));
            self.last = (now, packets);
        }
    }
}

/// How long to sleep when no queue had a frame. The kernel holds half a fill ring (4096
/// frames) to receive into: at 1 Mpps that is 4 ms, far more than this, and a sleeping
/// sink leaves the core to a generator that shares it.
const IDLE_SLEEP: Duration = Duration::from_micros(20);

fn sink_af_xdp(config: &SinkConfig, stop: &AtomicBool, ready: impl FnOnce()) -> Result<SinkReport, SinkError> {
    let queues = netdev::rx_queue_count(&config.iface).unwrap_or(1).max(1);
    let mode = match config.mode {
        BindMode::Auto => "auto",
        BindMode::Copy => "copy",
        BindMode::ZeroCopy => "zerocopy",
    };
    // Rings of 8192: the kernel holds 4096 empty frames, tens of milliseconds of slack at
    // the rates AF_XDP copy mode reaches, for a sink on a busy (or shared) core.
    let text = format!("af_xdp:iface={},queues=0-{},mode={mode},ring=8192", config.iface, queues - 1);
    let PortSpec::AfXdp(spec) = text.parse::<PortSpec>().map_err(SinkError::port(&config.iface))? else {
        unreachable!("an af_xdp: spec parses as an AF_XDP port")
    };
    let mut device = AfXdpDevice::open(&spec).map_err(SinkError::port(&config.iface))?;
    let frame_count = queues * 2 * spec.ring_size + 2 * BURST as u32;
    let mut umems =
        Umems::new(UmemConfig { frame_size: spec.frame_size, frame_count, hugepages: false, numa_node: None })
            .map_err(SinkError::Umem)?;
    let mut ports = Vec::new();
    for &queue in &spec.queues {
        ports.push(device.open_queue(queue, &mut umems).map_err(SinkError::port(&config.iface))?);
    }
    device.attach().map_err(SinkError::port(&config.iface))?;
    ready();

    let walk_config = WalkConfig::default();
    let mut offsets = Offsets::default();
    let mut frames: Vec<Frame> = Vec::with_capacity(BURST);
    let mut tracker = SequenceTracker::default();
    let (mut packets, mut bytes) = (0u64, 0u64);
    let start = Instant::now();
    let mut activity = Activity::default();
    let mut progress = Progress::new(start);
    let mut last_sample = start;
    let mut clocks = LatencyClocks::default();
    let mut tai_minus_mono = tai_minus_monotonic();
    while !stop.load(Ordering::Relaxed) && config.duration.is_none_or(|d| start.elapsed() < d) {
        let mut received = 0;
        for (port, slot) in &mut ports {
            let slot = &mut umems.slots[*slot];
            let n = port.rx_burst(&mut slot.pool, &mut frames, BURST);
            if n == 0 {
                continue;
            }
            received += n;
            let now = pmd::clock::monotonic_ns();
            // With RX hints (on where the device has them), a frame's arrival is the
            // device's timestamp or the redirect program's clock, not this read.
            let hints = port.last_rx_hints();
            for (i, frame) in frames.iter().enumerate() {
                let data = slot.umem.data(frame);
                packets += 1;
                bytes += data.len() as u64;
                let stamp = match walk_into(data, &walk_config, &mut offsets) {
                    Ok(()) => stamp::find(data, &offsets),
                    Err(_) => None,
                };
                let (arrival, clock) = arrival_time(hints.get(i).and_then(Option::as_ref), now, tai_minus_mono);
                if stamp.is_some_and(|s| s.sequenced) {
                    clocks.count(clock);
                }
                tracker.observe(stamp, arrival);
            }
            slot.pool.put_all(&mut frames);
        }
        if received == 0 {
            std::thread::sleep(IDLE_SLEEP);
        }
        if last_sample.elapsed() >= SAMPLE {
            last_sample = Instant::now();
            tai_minus_mono = tai_minus_monotonic();
            activity.sample(packets, last_sample);
            progress.maybe_print(config.interval, packets, start);
        }
    }
    activity.sample(packets, Instant::now());
    let mut sequence = tracker.report();
    sequence.latency_clock = Some(clocks);
    sequence.dropped_by_sink = ports
        .iter()
        .filter_map(|(port, _)| port.socket().stats_reader().read().ok())
        // An empty fill ring counts in both rx_dropped and rx_fill_ring_empty_descs: not
        // the latter again.
        .map(|s| s.rx_dropped + s.rx_ring_full)
        .sum();
    Ok(SinkReport {
        packets,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
        active_seconds: activity.seconds(),
        sequence: Some(sequence),
    })
}

/// `CLOCK_TAI` minus `CLOCK_MONOTONIC`, ns: what a TAI device timestamp is ahead by.
fn tai_minus_monotonic() -> i64 {
    let mono = pmd::clock::now_ns(pmd::clock::Clock::Monotonic);
    let tai = pmd::clock::now_ns(pmd::clock::Clock::Tai);
    tai - mono
}

/// Sequence numbers within this distance of the highest one seen are remembered, to tell a
/// late frame from a duplicate.
const WINDOW: u64 = 1 << 16;

/// One generator run's sequence numbers.
struct Stream {
    highest: u64,
    /// Distinct sequence numbers seen.
    unique: u64,
    /// Bit `seq % WINDOW`: seen, for `seq` in `(highest - WINDOW, highest]`.
    seen: Vec<u64>,
}

impl Stream {
    fn new(seq: u64) -> Stream {
        let mut stream = Stream { highest: seq, unique: 1, seen: vec![0; (WINDOW / 64) as usize] };
        stream.set(seq, true);
        stream
    }

    fn bit(&self, seq: u64) -> bool {
        let i = seq % WINDOW;
        self.seen[(i / 64) as usize] & 1 << (i % 64) != 0
    }

    fn set(&mut self, seq: u64, value: bool) {
        let i = seq % WINDOW;
        let word = &mut self.seen[(i / 64) as usize];
        if value {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// Returns (reordered, duplicate).
    fn observe(&mut self, seq: u64) -> (bool, bool) {
        if seq > self.highest {
            // Numbers skipped on the way are not seen (yet).
            if seq - self.highest >= WINDOW {
                self.seen.iter_mut().for_each(|w| *w = 0);
            } else {
                for skipped in self.highest + 1..seq {
                    self.set(skipped, false);
                }
            }
            self.set(seq, true);
            self.highest = seq;
            self.unique += 1;
            (false, false)
        } else if self.highest - seq >= WINDOW {
            // Too old to remember: late, and taken as not seen before.
            self.unique += 1;
            (true, false)
        } else if self.bit(seq) {
            (false, true)
        } else {
            self.set(seq, true);
            self.unique += 1;
            (true, false)
        }
    }

    /// Numbers from 0 to the highest that never arrived.
    fn lost(&self) -> u64 {
        (self.highest + 1).saturating_sub(self.unique)
    }
}

/// Loss, order and latency from the stamps of every frame received.
#[derive(Default)]
pub struct SequenceTracker {
    streams: HashMap<u16, Stream>,
    sequenced: u64,
    unsequenced: u64,
    reordered: u64,
    duplicates: u64,
    latency: Histogram,
}

impl SequenceTracker {
    /// One frame, with its stamp if it had one, received at `now_ns` (`CLOCK_MONOTONIC`).
    pub fn observe(&mut self, stamp: Option<Stamp>, now_ns: u64) {
        let Some(stamp) = stamp.filter(|s| s.sequenced) else {
            self.unsequenced += 1;
            return;
        };
        self.sequenced += 1;
        let (reordered, duplicate) = match self.streams.get_mut(&stamp.stream) {
            Some(stream) => stream.observe(stamp.seq),
            None => {
                self.streams.insert(stamp.stream, Stream::new(stamp.seq));
                (false, false)
            }
        };
        self.reordered += u64::from(reordered);
        self.duplicates += u64::from(duplicate);
        if !duplicate {
            self.latency.record(now_ns.saturating_sub(stamp.sent_ns));
        }
    }

    /// What the stamps told so far.
    pub fn report(&self) -> SequenceReport {
        SequenceReport {
            sequenced: self.sequenced,
            unsequenced: self.unsequenced,
            lost: self.streams.values().map(Stream::lost).sum(),
            reordered: self.reordered,
            duplicates: self.duplicates,
            streams: self.streams.len(),
            dropped_by_sink: 0,
            latency: self.latency.summary(),
            ..SequenceReport::default()
        }
    }
}

/// Bits of mantissa per power of two: 32 sub-buckets, so a percentile is within 1/32 (3 %)
/// of the true value (HdrHistogram's log-linear layout).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;

/// A log-linear histogram of nanoseconds.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; (64 - SUB_BITS as usize + 1) * SUB], count: 0, max: 0 }
    }
}

impl Histogram {
    fn index(value: u64) -> usize {
        if value < SUB as u64 {
            return value as usize;
        }
        let exp = 63 - value.leading_zeros(); // >= SUB_BITS
        let shift = exp - SUB_BITS;
        let mantissa = ((value >> shift) as usize) & (SUB - 1);
        (shift as usize + 1) * SUB + mantissa
    }

    /// The largest value bucket `index` holds.
    fn upper(index: usize) -> u64 {
        if index < SUB {
            return index as u64;
        }
        let shift = (index / SUB - 1) as u32;
        let low = (1u64 << (shift + SUB_BITS)) | ((index % SUB) as u64) << shift;
        low + ((1u64 << shift) - 1)
    }

    /// Counts one latency of `value` ns.
    pub fn record(&mut self, value: u64) {
        self.counts[Self::index(value)] += 1;
        self.count += 1;
        self.max = self.max.max(value);
    }

    /// The smallest bucket bound at or below which a fraction `q` of the values lie (never
    /// above the largest value recorded).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::upper(index).min(self.max));
            }
        }
        Some(self.max)
    }

    /// The percentiles (`None`: nothing recorded).
    pub fn summary(&self) -> Option<LatencySummary> {
        Some(LatencySummary {
            p50: self.quantile(0.50)?,
            p90: self.quantile(0.90)?,
            p99: self.quantile(0.99)?,
            max: self.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_layout_agrees_with_the_program() {
        assert_eq!(crate::sink_prog::STAMP_LEN, stamp::STAMP_LEN);
        assert_eq!(crate::sink_prog::MAGIC_SEQUENCED, stamp::MAGIC_SEQUENCED);
    }

    #[test]
    fn every_template_variant_has_a_stamp_offset() {
        let templates = stamp_templates();
        // 2 plain kinds x 2 families x 2 tags; vxlan, geneve: 4 family pairs x 2 outer tags
        // x 2 inner tags; gre: 4 x 2 x (2 keys x (IP + Ethernet x 2 tags)).
        assert_eq!(templates.len(), 8 + 2 * 16 + 48);
        for t in &templates {
            assert!(stamp_offset(t).is_some(), "{}", t.describe());
        }
        let candidates = stamp_candidates();
        assert!(candidates.len() <= crate::sink_prog::MAX_OFFSETS);
        assert!(candidates.windows(2).all(|w| w[0] < w[1]));
        // The plain IPv4 UDP frame's stamp (14 + 20 + 8) comes first.
        assert_eq!(usize::from(candidates[0].offset), stamp_offset(&Template::new(TemplateKind::Udp, false)).unwrap());
    }

    /// The program takes the first candidate holding the magic and the right length field:
    /// no earlier candidate may pass both on a frame of another template, for any size, flow
    /// or stamp, unless through bytes that stay the same from frame to frame (then this test
    /// would see the magic there).
    #[test]
    fn no_earlier_candidate_can_match_another_templates_frame() {
        let candidates = stamp_candidates();
        let mut hazards = Vec::new();
        for t in stamp_templates() {
            let own = stamp_candidate(&t).unwrap();
            for extra in [0, 1, 37, 400] {
                let build = |flow: u32, stamp: Stamp| {
                    let t = t.for_flow(flow);
                    let size = t.size + extra;
                    let mut frame = vec![0u8; t.frame_len(size)];
                    let len = t.build_into(&mut frame, size, None, Some(&stamp)).unwrap();
                    frame.truncate(len);
                    frame
                };
                let stamps = [(0, 0u64, 1u64), (77_777, 0xffff_ffff_ffff, u64::MAX), (53_665, 12345, 999)];
                let frames: Vec<Vec<u8>> = stamps
                    .into_iter()
                    .map(|(flow, seq, sent_ns)| build(flow, Stamp { sequenced: true, stream: 0xd5a1, seq, sent_ns }))
                    .collect();
                for c in candidates.iter().filter(|c| c.offset < own.offset) {
                    let (at, field) = (usize::from(c.offset), usize::from(c.len_field));
                    let length_agrees = frames.iter().any(|f| {
                        u16::from_be_bytes([f[field], f[field + 1]]) as usize == f.len() - usize::from(c.len_base)
                    });
                    let varies = frames.iter().any(|f| f[at..at + 2] != frames[0][at..at + 2]);
                    let magic = frames.iter().any(|f| f[at..at + 2] == stamp::MAGIC_SEQUENCED.to_be_bytes());
                    if length_agrees && (varies || magic) {
                        hazards.push(format!(
                            "{} (+{extra} bytes, stamp at {}): candidate {c:?}",
                            t.describe(),
                            own.offset
                        ));
                    }
                }
            }
        }
        assert!(hazards.is_empty(), "{hazards:#?}");
    }

    fn stamp(stream: u16, seq: u64, sent_ns: u64) -> Option<Stamp> {
        Some(Stamp { sequenced: true, stream, seq, sent_ns })
    }

    #[test]
    fn arrival_time_prefers_a_plausible_device_timestamp() {
        use pmd::rx_hints::RxHints;
        let now = 5_000_000_000u64;
        let tai_ahead = 37_000_000_000i64;
        let device = |mono: i64| RxHints { timestamp: Some((mono + tai_ahead) as u64), ..RxHints::default() };
        assert_eq!(arrival_time(None, now, tai_ahead), (now, ArrivalClock::Receive));
        assert_eq!(arrival_time(Some(&RxHints::default()), now, tai_ahead), (now, ArrivalClock::Receive));
        assert_eq!(
            arrival_time(Some(&device(4_999_000_000)), now, tai_ahead),
            (4_999_000_000, ArrivalClock::RxTimestamp)
        );
        for implausible in [5_000_000_001, 3_000_000_000, -1_000] {
            assert_eq!(
                arrival_time(Some(&device(implausible)), now, tai_ahead),
                (now, ArrivalClock::RxTimestampImplausible),
                "{implausible}"
            );
        }
        let xdp = RxHints { xdp_time: Some(4_999_999_000), ..RxHints::default() };
        assert_eq!(arrival_time(Some(&xdp), now, tai_ahead), (4_999_999_000, ArrivalClock::XdpTime));
        let future = RxHints { xdp_time: Some(now + 1), ..RxHints::default() };
        assert_eq!(arrival_time(Some(&future), now, tai_ahead), (now, ArrivalClock::Receive));
        let mut clocks = LatencyClocks::default();
        for clock in [ArrivalClock::RxTimestamp, ArrivalClock::XdpTime, ArrivalClock::RxTimestampImplausible] {
            clocks.count(clock);
        }
        assert_eq!(clocks, LatencyClocks { rx_timestamp: 1, xdp_time: 1, receive: 1, rx_timestamp_implausible: 1 });
    }

    #[test]
    fn in_order_is_neither_lost_nor_reordered() {
        let mut t = SequenceTracker::default();
        for seq in 0..100_000 {
            t.observe(stamp(1, seq, 0), 1000);
        }
        let r = t.report();
        assert_eq!((r.sequenced, r.lost, r.reordered, r.duplicates, r.streams), (100_000, 0, 0, 0, 1));
    }

    #[test]
    fn gaps_late_frames_and_duplicates() {
        let mut t = SequenceTracker::default();
        for seq in [0, 1, 2, 5, 6, 3, 6, 9, 200_000, 7] {
            t.observe(stamp(7, seq, 0), 0);
        }
        t.observe(None, 0);
        t.observe(Some(Stamp { sequenced: false, stream: 7, seq: 0, sent_ns: 0 }), 0);
        let r = t.report();
        // Seen: 0 1 2 3 5 6 7 9 200000 (9 unique of 200001): 3 and 7 came late, 6 twice.
        assert_eq!((r.reordered, r.duplicates, r.lost), (2, 1, 200_001 - 9));
        assert_eq!((r.sequenced, r.unsequenced), (10, 2));
    }

    #[test]
    fn two_generator_runs_are_two_streams() {
        let mut t = SequenceTracker::default();
        for seq in 0..10 {
            t.observe(stamp(1, seq, 0), 0);
        }
        for seq in 0..10 {
            t.observe(stamp(2, seq, 0), 0);
        }
        let r = t.report();
        assert_eq!((r.streams, r.lost, r.reordered, r.duplicates), (2, 0, 0, 0));
    }

    #[test]
    fn histogram_quantiles_are_within_three_percent() {
        let mut h = Histogram::default();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (q, exact) in [(0.5, 50_000.0), (0.9, 90_000.0), (0.99, 99_000.0)] {
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - exact).abs() / exact <= 1.0 / 32.0, "q{q}: {got} vs {exact}");
            assert!(got >= exact, "an upper bound");
        }
        assert_eq!(h.summary().unwrap().max, 100_000);
        let mut small = Histogram::default();
        small.record(7);
        assert_eq!(small.summary(), Some(LatencySummary { p50: 7, p90: 7, p99: 7, max: 7 }));
        assert_eq!(Histogram::default().summary(), None);
        // Every value lands in a bucket whose bound is at least the value.
        for v in [0, 1, 31, 32, 33, 63, 64, 1000, 1 << 40, u64::MAX] {
            assert!(Histogram::upper(Histogram::index(v)) >= v, "{v}");
        }
    }
}
