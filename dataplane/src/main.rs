//! The `dataplane` command: `run`, `gen`, `sink`, `inspect`, `rules`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use dataplane::error::CliError;
use dataplane::rules_cmd;
use dataplane::run::{run, RulesConfig, RunConfig};
use engine::cores;
use engine::pipeline::classify::ClassifierKind;
use engine::pipeline::rewrite::RewriteError;
use engine::pipeline::{CsumMode, Disposition, Pipeline, Rewrite};
use engine::worker::{Action, IdlePolicy};
use pmd::{BindMode, PortSpec};
use traffic::gen::{generate, BadCsum, Engine, GenConfig};
use traffic::rate::format_pps;
use traffic::sink::{sink, SinkConfig, SinkEngine};
use traffic::template::{FrameSize, Template, TemplateKind, Vlan};
use wire::ethernet::parse_mac;
use wire::{CsumLayer, ZeroPolicy};
use wire::{PortSet, WalkConfig};

#[derive(Parser)]
#[command(name = "dataplane", version, about = "A DPDK-style kernel-bypass dataplane on AF_XDP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run poll-mode workers over ports: receive, act, transmit, count.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Generate UDP, TCP, VXLAN, GRE or Geneve traffic (IPv4 or IPv6) out of an interface.
    #[command(after_help = GEN_EXAMPLES)]
    Gen(GenArgs),
    /// Count the frames arriving on an interface (frames are dropped); with --engine af-xdp
    /// also loss, reordering and latency from the generator's stamps.
    #[command(after_help = SINK_EXAMPLES)]
    Sink(SinkArgs),
    /// Show the layers and checksum statuses of every packet in a pcap or pcapng file.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
    /// Check a rule file, classify a trace against it, or compile it for tc / XDP.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The head-to-head benchmark: the same rules through the dataplane, tc, XDP and testpmd.
    #[command(after_help = lab::LAB_EXAMPLES)]
    Lab(lab::LabArgs),
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Parse a rule file and report every error as file:line:col: message.
    #[command(after_help = RULES_CHECK_EXAMPLES)]
    Check(RulesCheckArgs),
    /// Classify the packets of a trace: the first matching rule of each, and the lookup rate.
    #[command(after_help = RULES_CLASSIFY_EXAMPLES)]
    Classify(RulesClassifyArgs),
    /// Express a rule file for the kernel: a `tc -b` batch, or BPF programs loaded and attached.
    #[command(after_help = RULES_COMPILE_EXAMPLES)]
    Compile(RulesCompileArgs),
}

const RULES_CHECK_EXAMPLES: &str = "\
Examples:
  dataplane rules check acl.rules
  dataplane rules check fw1_10k --format classbench
  dataplane rules check pasted.rules --explain    # each rule as tc reads it, and warnings

A rule per line, tc flower's keys and syntax (a pasted `tc filter add ... flower ...` line works):
  prio 10 protocol ip ip_proto tcp dst_ip 10.0.0.0/8 dst_port 1024-65535 action drop
  protocol ipv6 ip_proto udp src_ip 2001:db8::/32 action fwd 1
  enc_key_id 42 ip_proto udp dst_port 53 action decap
First match wins: lowest prio, then file order. On a tunnelled frame the plain keys match the
inner headers and the enc_ keys the outer ones.";

const RULES_CLASSIFY_EXAMPLES: &str = "\
Examples:
  dataplane rules classify acl.rules --trace acl.trace --json
  dataplane rules classify acl1_10k --format classbench --trace acl1_10k_trace --repeat 100

Trace lines: src dst sport dport proto (addresses as u32 decimals or dotted quads; further
columns ignored). --json prints {\"index\":i,\"rule\":k} per packet (k: 0-based rule of the
file, -1 for none), then a summary line.";

const RULES_COMPILE_EXAMPLES: &str = "\
Examples:
  dataplane rules compile acl.rules --to tc-u32 --dev dut0 --port-dev sink0 > acl.tc && tc -b acl.tc
  dataplane rules compile acl.rules --to xdp --dev dut0          # loads, pins and attaches
  dataplane rules compile acl.rules --to tc-bpf-per-rule --dev dut0 --remove
  ip netns exec dut dataplane rules compile acl.rules --to xdp --dev dut0 --pin-root /run/lab/bpf

tc targets print a batch for `tc -b` (kernel gaps and limits on stderr); BPF targets are
loaded, pinned (PIN_ROOT/DEV/TARGET, with the per-rule counter map) and attached.";

#[derive(Args)]
struct RulesCheckArgs {
    file: PathBuf,
    #[arg(long, value_enum, default_value = "native")]
    format: FormatArg,
    /// Print every rule as it was read: tc's words, numbers as tc reads them (a pasted
    /// `ip_proto 17` is 0x17, not UDP: the warnings say where that differs from decimal).
    #[arg(long)]
    explain: bool,
}

#[derive(Args)]
struct RulesClassifyArgs {
    /// The rule file.
    rules: PathBuf,
    /// The packets: one `src dst sport dport proto` per line.
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    #[arg(long, value_enum, default_value = "native")]
    format: FormatArg,
    /// Classify the whole trace N times for the rate.
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: u32,
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value = "fast")]
    classifier: ClassifierArg,
}

#[derive(Args)]
struct RulesCompileArgs {
    file: PathBuf,
    /// tc-u32, tc-flower, tc-bpf, tc-bpf-per-rule or xdp.
    #[arg(long, value_name = "TARGET")]
    to: String,
    /// The interface whose ingress gets the rules.
    #[arg(long, value_name = "NAME")]
    dev: String,
    /// For `fwd N`: the interface of port N (repeatable, in port order).
    #[arg(long = "port-dev", value_name = "NAME")]
    port_devs: Vec<String>,
    /// For `drop` where the kernel has no act_gact: redirect to this (dead-end) interface.
    #[arg(long, value_name = "NAME")]
    drop_dev: Option<String>,
    #[arg(long, value_enum, default_value = "native")]
    format: FormatArg,
    /// Remove what an earlier compile for this target attached to --dev.
    #[arg(long)]
    remove: bool,
    /// BPF targets: pin under DIR (a bpffs; mounted there if it is not one) instead of
    /// /sys/fs/bpf/dataplane. Under `ip netns exec`, /sys is the command's own: pins there
    /// vanish when it exits (and an XDP link with them), so pass a DIR outside /sys.
    #[arg(long, value_name = "DIR")]
    pin_root: Option<PathBuf>,
}

const INSPECT_EXAMPLES: &str = "\
Examples:
  dataplane inspect capture.pcapng
  dataplane inspect capture.pcap --json | jq -c 'select(.csum.inner_l4 == \"bad\")'

Checksum statuses: good, bad, zero (a UDP checksum of 0), absent (no such layer or no
checksum field), unverifiable (an L4 checksum of an IP fragment). outer = the only or
outermost headers, inner = inside the tunnel (VXLAN 4789, Geneve 6081, GRE, IP-in-IP).";

#[derive(Args)]
struct InspectArgs {
    /// A pcap or pcapng file.
    file: PathBuf,
    /// One JSON object per packet per line.
    #[arg(long)]
    json: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CsumArg {
    /// Drop a frame with a bad checksum at any layer (counted per layer).
    Verify,
    /// Recompute every checksum present (the outer UDP one of a tunnel by LCO).
    Fix,
    /// Compute the inner checksums fully and the outer UDP one by LCO only.
    Lco,
    /// As lco at the wire, the innermost UDP/TCP checksum left to the device (AF_XDP TX
    /// metadata); ports without it compute it in software (lco).
    Offload,
    /// Leave checksums alone.
    Off,
}

const RUN_EXAMPLES: &str = "\
Ports (DPDK devargs style, numbered 0, 1, ... in order):
  af_xdp:iface=NAME[,queues=0-3|all][,mode=auto|copy|zerocopy][,steer=EXPR][,ring=N][,frame=2048|4096][,hugepages=1][,busy_poll=BUDGET][,mb=0|1][,tx_sw_csum=1][,rx_hints=0|1]
      mb=1: multi-buffer (XDP_USE_SG): frames larger than one chunk arrive and leave as several chunks;
      on by default when the MTU + 18 exceeds frame - 256 (1774 for frame=2048, 3822 for 4096); mb=0 with
      such an MTU is refused. Multi-buffer packets are forwarded whole and --csum verify|fix|lco and --rules
      read them whole, action lists too; --rewrite, rule rewrites, mirrors and egress rules drop them
      (mb_unparsed)
      queues=all binds every receive queue the interface has, one worker per queue without --cores
      rx_hints=1: the device's RX timestamp, RSS hash and VLAN tag (XDP metadata kfuncs, a device-bound
      program in driver mode), counted per socket in the stats JSON (rx_hints); an error where the
      kernel or device lacks them; default 0 for run (they cost: BENCHMARKS.md), auto for sink
      busy_poll=BUDGET: preferred busy polling, BUDGET frames per NAPI poll (default 64; 0: off); sets the
      device's napi_defer_hard_irqs=2 and gro_flush_timeout=200000 for the run and puts them back at exit
      (after kill -9 too: a helper process, else the next run on that interface from
      /run/dataplane/IFACE.NETNS.busy-poll); a queue without a NAPI id (veth) says so and polls as usual
      steer=EXPR sends only matching traffic to the dataplane, the rest to the kernel:
      udp:PORT, tcp:PORT, proto:NUM|udp|tcp|..., ethertype:0xNNNN, joined by '+'
      tx_sw_csum=1 (testing): with --csum offload, the kernel completes each requested checksum on the
      CPU (XDP_UMEM_TX_SW_CSUM, copy mode) instead of leaving it to the device
  pcap:rx=IN.pcap[,tx=OUT.pcap]     replay a pcap/pcapng file once, write a pcap file
  mem[:depth=N,preload=N,size=N]    in-memory loopback holding `preload` UDP frames

Examples:
  dataplane run --port af_xdp:iface=veth0 --action drop --cores 1
  dataplane run --port af_xdp:iface=dut0 --port af_xdp:iface=dut1 --action fwd --stats-json stats.jsonl
  dataplane run --port af_xdp:iface=eth1,queues=0-1,steer=udp:4789 --action reflect --cores 0-1
  dataplane run --port af_xdp:iface=eth1,queues=all,busy_poll=64 --action drop
  dataplane run --port pcap:rx=in.pcap,tx=out.pcap --action reflect
  dataplane run --port mem --port mem --action fwd --duration 5
  dataplane run --port pcap:rx=bad-csums.pcap,tx=fixed.pcap --csum fix --action reflect
  dataplane run --port af_xdp:iface=dut0 --port af_xdp:iface=dut1 --csum verify --vxlan-port 8472
  dataplane run --port af_xdp:iface=eth1 --port af_xdp:iface=eth2 --csum offload --stats-json stats.jsonl
  dataplane run --port af_xdp:iface=dut0 --port af_xdp:iface=dut1 --rewrite encap:vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42
  dataplane run --port af_xdp:iface=dut0 --port af_xdp:iface=dut1 --rules acl.rules --default drop
      (kill -HUP the process to reload acl.rules; a bad file keeps the old rules)

Traffic the sockets do not see (receive queues without a socket, frames outside steer=) is
handled by the XDP program itself. Without --rules it goes to the kernel (XDP_PASS). With
--rules it must not bypass them: under --default drop the program drops it (XDP_DROP); under
--default pass (\"as --action says\", which the kernel cannot do) run refuses to start and
names the uncovered queues, unless told --uncovered drop or --uncovered pass. At the end the
programs are detached before any socket closes.

After setup (sockets bound, programs attached) run drops every capability: the workers and
SIGHUP reloads need none. The rule file must then be readable by its owner bits alone.

--csum offload: every checksum right at the wire, as lco, the work divided as Local Checksum
Offload does: IPv4 header sums in software, the innermost UDP/TCP checksum asked of the device
through AF_XDP TX metadata (csum_start/csum_offset, the pseudo-header sum in the field), a
tunnel's outer UDP (or GRE) checksum by LCO from that. Each port says at start how its
requests go; where the kernel refuses TX metadata (before Linux 6.11), in zero-copy mode on a
driver whose netdev xsk-features lack tx-checksum, and on pcap/mem ports, that port computes
them in software (lco). Frames with padding after the
packet, ICMP and a kept zero UDP checksum are computed in software too. Stats: per worker and
port, tx_csum_offload (sent with a request) and tx_csum_software (completed in software).

SIGINT/SIGTERM stop the workers and print totals (exit 0). SIGHUP reloads --rules (without
--rules: a message, nothing else). A worker that dies stops run at once: an error naming it,
everything detached, exit 1.";

const GEN_EXAMPLES: &str = "\
Examples:
  dataplane gen --iface veth0 --count 100000 --rate 50000
  dataplane gen --iface gen0 --size 60 --duration 10 --core 0 --json
  dataplane gen --iface gen0 --engine live --duration 10 --core 0   (as fast as the kernel can)
  dataplane gen --iface gen0 --template vxlan --ipv6 --size imix --flows 1000 --rate 100000 --count 1000000
  dataplane gen --iface gen0 --template tcp --vlan 100 --bad-csum 1 --bad-csum-layer outer_l4 --count 10000
  dataplane gen --pcap gre.pcap --template gre --count 10 --size 128

Templates (the CLI addresses, ports and --vlan apply to the plain frame; inside a tunnel that
is the inner one, and --vlan tags the outer Ethernet header):
  udp, tcp       Ethernet / IPv4|IPv6 / UDP|TCP
  vxlan, geneve  Ethernet / IP / UDP 4789|6081 / VXLAN|Geneve (VNI 42) / Ethernet / IP / UDP
  gre            Ethernet / IP / GRE (checksum, key 42) / IP / UDP
Sizes are frame bytes without FCS, 60 to 1514, raised to the template's headers if those need
more; imix is the 7:4:1 mix of 60, 590 and 1514 (IP packets of 40, 576, 1500 bytes).
--flows N: the source port counts up from --src-port (then the source address), and a
tunnel's outer source port follows the flow.
--bad-csum PCT: that share of frames, spread evenly, gets one wrong checksum, at
--bad-csum-layer or else at each layer the template has in turn; the others stay right.
Frames carry an 18-byte stamp at the start of the innermost payload (stream, sequence
number, send time) when they have room (a 60-byte IPv4 UDP frame does; 60-byte TCP does
not): `dataplane sink` reads it (in the kernel; --engine af-xdp in user space).
--engine live: BPF_PROG_RUN live frames; its XDP program varies every frame in the kernel
(flow, bad checksum, stamp numbered per CPU: stream = base + CPU id) from per-size patch
tables (at most 262144 = sizes x flows x checksum variants). It creates an ifb device
dpgen<PID> in the current namespace to keep the program attached (removed at exit). IMIX
goes as calls of one size each, 7:4:1 exactly over every 12 calls. Paced: by the program
(a clock gate), frames evenly spaced (--burst N: bursts of N). `sent` counts the frames
that left: those the veth's XDP transmit accepted (at most what the program generated).
--json adds generated, xmit_errors, offered_src (how sent was counted) and stream.";

const SINK_EXAMPLES: &str = "\
Examples:
  dataplane sink --iface sink0 --duration 10 --json
  dataplane sink --iface veth1          (until Ctrl-C)
  dataplane sink --iface sink0 --engine af-xdp --json   (every frame in user space)

--json prints one line: {\"packets\":N,\"delivered\":N,\"bytes\":B,\"seconds\":S,\"pps\":P,
\"lost\":L,\"reordered\":R,\"duplicates\":D,\"late\":T,\"sequenced\":Q,\"unsequenced\":U,
\"streams\":N,\"latency_invalid\":I,\"stream_overflow\":O,\"latency_every\":1,\"dropped_by_sink\":0,
\"latency_ns\":{\"p50\":..,\"p90\":..,\"p99\":..,\"max\":..}}, and with af-xdp \"latency_clock\":{\"rx_timestamp\":N,
\"xdp_time\":N,\"receive\":N,\"rx_timestamp_implausible\":N}: where each arrival time came from (the
device's RX timestamp, the redirect program's clock, the sink's own) (latency_ns null when no sequenced
frame arrived; percentiles are bucket upper bounds, 12.5 % apart with the xdp engine, the
max is exact). Both engines read the generator's sequenced stamps; the xdp engine does it in
the kernel at any rate. `lost` counts sequence numbers from 0 to the highest one seen that
never arrived: start the sink first. `late`: older than the duplicate window (1024 numbers
with the xdp engine) when they came; `unsequenced`: frames without a sequenced stamp.";

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ActionArg {
    Drop,
    Reflect,
    Fwd,
}

#[derive(Args)]
struct RunArgs {
    /// A port (repeatable), e.g. af_xdp:iface=veth0 — see the list below.
    #[arg(long = "port", value_name = "SPEC", required = true, value_parser = parse_port)]
    ports: Vec<PortSpec>,
    /// What to do with each frame [default: fwd with two ports, else drop].
    #[arg(long, value_enum)]
    action: Option<ActionArg>,
    /// Cores for the workers, one worker per core, e.g. 1 or 0-3 [default: the last core; with
    /// queues=all one per queue].
    #[arg(long, value_name = "LIST", value_parser = parse_cores)]
    cores: Option<CoreList>,
    /// Seconds between statistics lines; 0 prints only the totals (at most 10 years).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    stats_interval: f64,
    /// Also write statistics as JSON lines to FILE ('-' for stdout).
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
    /// Stop after S seconds (more than 0, at most 10 years).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// After a poll that found nothing: `busy` polls again at once (the core stays 100 %
    /// busy); `sleep:US` sleeps that many microseconds, giving the core to the kernel's
    /// receive work when both share it (a veth's threaded NAPI on the worker's core).
    #[arg(long, value_name = "busy|sleep:US", default_value = "busy", value_parser = parse_idle)]
    idle: IdlePolicy,
    /// Checksum policy. Frames that cannot be parsed are dropped in every mode.
    #[arg(long, value_enum, default_value = "off")]
    csum: CsumArg,
    /// UDP ports that carry VXLAN (repeatable) [default: 4789].
    #[arg(long = "vxlan-port", value_name = "PORT")]
    vxlan_ports: Vec<u16>,
    /// UDP ports that carry Geneve (repeatable) [default: 6081].
    #[arg(long = "geneve-port", value_name = "PORT")]
    geneve_ports: Vec<u16>,
    /// UDP ports (tunnels) whose IPv6 checksum may be zero, RFC 6935 (repeatable) [default: none].
    #[arg(long = "udp6-zero-port", value_name = "PORT")]
    udp6_zero_ports: Vec<u16>,
    /// Rewrite every frame: ttl-dec, decap, or
    /// encap:vxlan|geneve|gre,src=IP,dst=IP[,vni=N][,smac=MAC][,dmac=MAC][,port=N][,ttl=N][,tos=N][,csum=lco|zero].
    /// An encapsulated packet longer than the MTU is dropped and counted as mtu_exceeded (never
    /// fragmented): the MTU is the smallest of every port's, an af_xdp port's being its
    /// interface's MTU and a pcap or mem port's 1500.
    #[arg(long, value_name = "ACTION", value_parser = parse_rewrite)]
    rewrite: Option<Rewrite>,
    /// Classify every frame against a rule file (tc flower syntax); SIGHUP reloads it.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// The rule file's format.
    #[arg(long, value_enum, default_value = "native", requires = "rules")]
    format: FormatArg,
    /// What happens to a frame no rule matches: `pass` goes on as --action says.
    #[arg(long, value_enum, default_value = "pass", requires = "rules")]
    default: DefaultArg,
    /// The classifier: `fast` (flat as rules grow) or `linear` (rule by rule, as tc does).
    #[arg(long, value_enum, default_value = "fast")]
    classifier: ClassifierArg,
    /// What the XDP program does with frames no socket sees (queues without a socket,
    /// frames outside steer=) [default: pass; with --rules: drop under --default drop,
    /// else refuse to start if anything is uncovered]. See "Traffic the sockets do not see".
    #[arg(long, value_enum, value_name = "drop|pass")]
    uncovered: Option<UncoveredArg>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum UncoveredArg {
    /// XDP_DROP in the program: nothing reaches the kernel unclassified.
    Drop,
    /// XDP_PASS: up the kernel stack, unfiltered (on purpose).
    Pass,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// tc flower's keys and syntax, one rule per line.
    Native,
    /// ClassBench filter lines (`@src/len dst/len lo : hi lo : hi proto/mask`), action drop.
    Classbench,
}

impl From<FormatArg> for rules::Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Native => rules::Format::Native,
            FormatArg::Classbench => rules::Format::Classbench,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum DefaultArg {
    Drop,
    Pass,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ClassifierArg {
    Fast,
    Linear,
}

impl From<ClassifierArg> for ClassifierKind {
    fn from(kind: ClassifierArg) -> Self {
        match kind {
            ClassifierArg::Fast => ClassifierKind::Fast,
            ClassifierArg::Linear => ClassifierKind::Linear,
        }
    }
}

fn parse_rewrite(text: &str) -> Result<Rewrite, RewriteError> {
    text.parse()
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum TemplateArg {
    /// Ethernet / IP / UDP.
    Udp,
    /// Ethernet / IP / TCP.
    Tcp,
    /// UDP inside VXLAN.
    Vxlan,
    /// UDP inside GRE (IP in GRE, with checksum and key).
    Gre,
    /// UDP inside Geneve.
    Geneve,
}

impl TemplateArg {
    fn kind(self) -> TemplateKind {
        match self {
            TemplateArg::Udp => TemplateKind::Udp,
            TemplateArg::Tcp => TemplateKind::Tcp,
            TemplateArg::Vxlan => TemplateKind::Vxlan,
            TemplateArg::Gre => TemplateKind::Gre,
            TemplateArg::Geneve => TemplateKind::Geneve,
        }
    }
}

/// The checksum slots, named as `inspect` names them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CsumLayerArg {
    #[value(name = "outer_l3")]
    OuterL3,
    #[value(name = "outer_l4")]
    OuterL4,
    #[value(name = "tunnel")]
    Tunnel,
    #[value(name = "inner_l3")]
    InnerL3,
    #[value(name = "inner_l4")]
    InnerL4,
}

impl CsumLayerArg {
    fn layer(self) -> CsumLayer {
        match self {
            CsumLayerArg::OuterL3 => CsumLayer::OuterL3,
            CsumLayerArg::OuterL4 => CsumLayer::OuterL4,
            CsumLayerArg::Tunnel => CsumLayer::Tunnel,
            CsumLayerArg::InnerL3 => CsumLayer::InnerL3,
            CsumLayerArg::InnerL4 => CsumLayer::InnerL4,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum SinkEngineArg {
    /// An XDP program counts packets, loss, reordering, duplicates and latency in the
    /// kernel, and drops: the fastest.
    Xdp,
    /// An XDP program counts packets and bytes only, and drops: the cheapest receiver, for
    /// measuring a generator.
    Count,
    /// AF_XDP receive: every frame in user space (slower; for frame-level inspection).
    AfXdp,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Auto,
    Copy,
    Zerocopy,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    /// AF_XDP transmit (copy mode on veth: every frame becomes an skb).
    AfXdp,
    /// BPF_PROG_RUN live frames, every frame varied by an XDP program in the kernel (line
    /// rate on one core); the peer needs XDP or GRO; creates an ifb device for the run.
    Live,
    /// Bench helper: the bare live-frames loop (one 60-byte frame), the live engine's reference.
    #[value(hide = true)]
    LiveReference,
}

#[derive(Args)]
struct GenArgs {
    /// How frames are sent.
    #[arg(long, value_enum, default_value = "af-xdp")]
    engine: EngineArg,
    /// Interface to send on.
    #[arg(long, value_name = "NAME")]
    iface: Option<String>,
    /// Frame template (see below).
    #[arg(long, value_enum, default_value = "udp")]
    template: TemplateArg,
    /// IPv6 instead of IPv4 (inner and outer headers).
    #[arg(long)]
    ipv6: bool,
    /// Frame size in bytes without FCS (60 to 1514), or imix.
    #[arg(long, value_name = "N|imix", default_value = "60", value_parser = FrameSize::parse)]
    size: FrameSize,
    /// Number of flows (source ports, then source addresses).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    flows: u32,
    /// Percentage of frames (0 to 100) with one wrong checksum.
    #[arg(long, value_name = "PCT")]
    bad_csum: Option<f64>,
    /// The layer of the wrong checksum [default: each layer the template has, in turn].
    #[arg(long, value_enum, value_name = "LAYER", requires = "bad_csum")]
    bad_csum_layer: Option<CsumLayerArg>,
    /// Tag the outermost Ethernet header with this 802.1Q VLAN id (0 to 4095).
    #[arg(long, value_name = "ID", value_parser = clap::value_parser!(u16).range(0..=4095))]
    vlan: Option<u16>,
    /// VXLAN / Geneve VNI or GRE key of the tunnel templates [default: 42].
    #[arg(long, value_name = "N")]
    vni: Option<u32>,
    /// Send N frames, then stop.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Send for S seconds, then stop.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Frames per second; default: as fast as possible.
    #[arg(long, value_name = "PPS")]
    rate: Option<f64>,
    /// With --rate: frames leave in back-to-back bursts of N at the average rate (bursty
    /// load for overload tests).
    #[arg(long, value_name = "N", requires = "rate", value_parser = clap::value_parser!(u32).range(1..))]
    burst: Option<u32>,
    /// Also (or, without --iface, only) write the frames to a pcap file.
    #[arg(long, value_name = "OUT")]
    pcap: Option<PathBuf>,
    /// With --match-rule: the rule file the frames are built against.
    #[arg(long, value_name = "FILE", requires = "match_rule")]
    rules: Option<PathBuf>,
    /// The rule file's format.
    #[arg(long, value_enum, default_value = "native", requires = "rules")]
    format: FormatArg,
    /// Build frames that match rule K of --rules and no rule before it in matching order:
    /// K is the rule's 0-based index in the file, or `first` / `last` in matching order.
    #[arg(long, value_name = "K|first|last", requires = "rules")]
    match_rule: Option<String>,
    #[arg(long, value_name = "MAC", value_parser = parse_mac)]
    src_mac: Option<[u8; 6]>,
    #[arg(long, value_name = "MAC", value_parser = parse_mac, default_value = "02:00:00:00:01:00")]
    dst_mac: [u8; 6],
    /// [default: 198.18.0.1, with --ipv6 2001:2::1]
    #[arg(long, value_name = "IP")]
    src_ip: Option<IpAddr>,
    /// [default: 198.19.0.1, with --ipv6 2001:2:0:1::1]
    #[arg(long, value_name = "IP")]
    dst_ip: Option<IpAddr>,
    #[arg(long, value_name = "PORT", default_value_t = 1024)]
    src_port: u16,
    #[arg(long, value_name = "PORT", default_value_t = 9)]
    dst_port: u16,
    /// Transmit queue.
    #[arg(long, value_name = "Q", default_value_t = 0)]
    queue: u32,
    /// AF_XDP mode.
    #[arg(long, value_enum, default_value = "auto")]
    mode: ModeArg,
    /// Pin the generator to this core.
    #[arg(long, value_name = "N")]
    core: Option<usize>,
    /// Print the result as one JSON line: {"sent":N,"bytes":B,"seconds":S,"pps":P,"gbps":G,...}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SinkArgs {
    /// Interface to count on.
    #[arg(long, value_name = "NAME")]
    iface: String,
    /// Stop after S seconds (default: at SIGINT/SIGTERM).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// How frames are counted.
    #[arg(long, value_enum, default_value = "xdp")]
    engine: SinkEngineArg,
    /// AF_XDP mode of the af-xdp engine.
    #[arg(long, value_enum, default_value = "auto")]
    mode: ModeArg,
    /// Print the result as one JSON line (fields below).
    #[arg(long)]
    json: bool,
    /// Seconds between progress lines on stderr; 0 for none.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    interval: f64,
    /// xdp engine: measure the latency only of frames whose sequence number is a multiple of
    /// N (a power of two), to save the clock read (the program's dearest step) at the
    /// highest rates.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_power_of_two)]
    latency_every: u32,
    /// Attach even if the interface carries IP addresses or a default route (the sink drops
    /// everything arriving there; by default such an interface is refused).
    #[arg(long)]
    force: bool,
}

fn parse_power_of_two(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n.is_power_of_two() && n <= 1 << 30 => Ok(n),
        _ => Err(format!("{text}: give a power of two from 1 to {}", 1u32 << 30)),
    }
}

/// A whole core list as one value (clap would treat a bare Vec as repeated values).
#[derive(Clone, Debug)]
struct CoreList(Vec<usize>);

/// This process's time on CPU by the scheduler's clock, every thread (schedstat, in ns):
/// `gen --json` reports it so the lab can tell the generator's own cost from the work that
/// ran in its softirq.
fn own_cpu_ns() -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut sum = 0;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        sum += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(sum)
}

fn parse_idle(text: &str) -> Result<IdlePolicy, String> {
    match text.split_once(':') {
        None if text == "busy" => Ok(IdlePolicy::Busy),
        Some(("sleep", us)) => match us.parse::<u64>() {
            Ok(us @ 1..=100_000) => Ok(IdlePolicy::Sleep(Duration::from_micros(us))),
            _ => Err(format!("sleep:{us}: give 1 to 100000 microseconds")),
        },
        _ => Err(format!("{text}: expected busy or sleep:US (e.g. sleep:20)")),
    }
}

fn parse_cores(text: &str) -> Result<CoreList, engine::SetupError> {
    cores::parse_core_list(text).map(CoreList)
}

fn parse_port(text: &str) -> Result<PortSpec, String> {
    text.parse().map_err(|e: pmd::Error| e.to_string())
}

/// The longest duration or interval taken: 10 years, far past any run, and well inside
/// what `Duration` and `Instant` arithmetic can hold (`Instant + Duration` panics on overflow).
const MAX_SECONDS: f64 = 10.0 * 365.0 * 86400.0;

fn seconds(value: Option<f64>, flag: &str) -> Result<Option<Duration>, String> {
    match value {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_SECONDS => {
            Duration::try_from_secs_f64(s).map(Some).map_err(|e| format!("{flag} {s}: {e}"))
        }
        Some(s) => Err(format!("{flag} {s}: give a positive number of seconds, at most {MAX_SECONDS}")),
    }
}

/// An interval where 0 means "none": `Ok(None)` for 0, else as [`seconds`].
fn interval(value: f64, flag: &str) -> Result<Option<Duration>, String> {
    if value == 0.0 {
        return Ok(None);
    }
    seconds(Some(value), flag).map_err(|e| format!("{e} (or 0 for none)"))
}

/// The highest `--rate`: 10^10 frames per second, past any link (a 400 Gbit/s one carries
/// 0.6 * 10^9 minimum-size frames per second).
const MAX_RATE: f64 = 1e10;
/// The lowest `--rate`: one frame every 1000 s (the pacer sleeps at most 1 s at a time).
const MIN_RATE: f64 = 1e-3;

fn rate(value: Option<f64>) -> Result<Option<f64>, String> {
    match value {
        Some(r) if !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r)) => {
            Err(format!("--rate {r}: give frames per second from {MIN_RATE} to {MAX_RATE}"))
        }
        r => Ok(r),
    }
}

/// SIGINT and SIGTERM set the returned flag; workers and loops poll it.
fn stop_on_signals() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).expect("registering a signal handler");
    }
    stop
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd_run(args),
        Command::Gen(args) => cmd_gen(args),
        Command::Sink(args) => cmd_sink(args),
        Command::Inspect(args) => {
            dataplane::inspect::inspect_file(&args.file, args.json, &mut std::io::stdout().lock())
        }
        Command::Rules(command) => cmd_rules(command),
        Command::Lab(args) => lab::main(args).map_err(CliError::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error.printed());
            ExitCode::FAILURE
        }
    }
}

fn cmd_run(args: RunArgs) -> Result<(), CliError> {
    let action = match args.action {
        Some(ActionArg::Drop) => Action::Drop,
        Some(ActionArg::Reflect) => Action::Reflect,
        Some(ActionArg::Fwd) => Action::Fwd,
        None if args.ports.len() == 2 => Action::Fwd,
        None => Action::Drop,
    };
    let interval = interval(args.stats_interval, "--stats-interval")?;
    let port_set = |ports: &[u16], default: PortSet, flag: &str| -> Result<PortSet, CliError> {
        if ports.is_empty() {
            return Ok(default);
        }
        PortSet::from_ports(ports).ok_or_else(|| CliError::Other(format!("{flag}: at most {} ports", wire::MAX_PORTS)))
    };
    let defaults = WalkConfig::default();
    let pipeline = Pipeline {
        walk: WalkConfig {
            vxlan_ports: port_set(&args.vxlan_ports, defaults.vxlan_ports, "--vxlan-port")?,
            geneve_ports: port_set(&args.geneve_ports, defaults.geneve_ports, "--geneve-port")?,
            ..defaults
        },
        csum: match args.csum {
            CsumArg::Verify => CsumMode::Verify,
            CsumArg::Fix => CsumMode::Fix,
            CsumArg::Lco => CsumMode::Lco,
            CsumArg::Offload => CsumMode::Offload,
            CsumArg::Off => CsumMode::Off,
        },
        zero: ZeroPolicy { ipv6_zero_ports: port_set(&args.udp6_zero_ports, PortSet::empty(), "--udp6-zero-port")? },
        rewrite: args.rewrite,
        // `run` sets it from the ports (see --rewrite's help).
        mtu: engine::pipeline::DEFAULT_MTU,
    };
    let config = RunConfig {
        ports: args.ports,
        action,
        pipeline,
        // Empty: `run` picks (the last core; with queues=all one per queue).
        cores: args.cores.map_or_else(Vec::new, |c| c.0),
        stats_interval: interval,
        stats_json: args.stats_json,
        duration: seconds(args.duration, "--duration")?,
        idle: args.idle,
        rules: args.rules.map(|path| RulesConfig {
            path,
            format: args.format.into(),
            default: match args.default {
                DefaultArg::Drop => Disposition::Drop,
                DefaultArg::Pass => Disposition::Pass,
            },
            classifier: args.classifier.into(),
        }),
        uncovered: args.uncovered.map(|u| match u {
            UncoveredArg::Drop => pmd::xdp_prog::Uncovered::Drop,
            UncoveredArg::Pass => pmd::xdp_prog::Uncovered::Pass,
        }),
    };
    run(config, stop_on_signals()).map(drop)
}

fn cmd_rules(command: RulesCommand) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match command {
        RulesCommand::Check(args) => rules_cmd::check(&args.file, args.format.into(), args.explain, &mut out),
        RulesCommand::Classify(args) => rules_cmd::classify(
            &rules_cmd::ClassifyArgs {
                rules: &args.rules,
                trace: &args.trace,
                format: args.format.into(),
                repeat: args.repeat,
                json: args.json,
                classifier: args.classifier.into(),
            },
            &mut out,
        ),
        RulesCommand::Compile(args) => rules_cmd::compile(
            &rules_cmd::CompileArgs {
                file: &args.file,
                format: args.format.into(),
                target: &args.to,
                dev: &args.dev,
                port_devs: &args.port_devs,
                drop_dev: args.drop_dev.as_deref(),
                remove: args.remove,
                pin_root: args.pin_root.as_deref(),
            },
            &mut out,
        ),
    }
}

/// `--rules FILE --match-rule K`: `template` changed where rule K needs it, so that every
/// flow's frames match rule K first (checked before anything is sent).
fn template_for_rule(
    template: Template,
    kind: TemplateKind,
    path: &std::path::Path,
    format: rules::Format,
    which: &str,
    flows: u32,
) -> Result<Template, CliError> {
    let set = rules_cmd::load_checked(path, format).map_err(|errors| CliError::file_lines(&errors))?;
    let k = match which {
        "first" => set.order.first().copied(),
        "last" => set.order.last().copied(),
        number => Some(
            number.parse::<usize>().map_err(|_| format!("--match-rule {number}: give a rule index, first or last"))?,
        ),
    }
    .ok_or_else(|| CliError::File(format!("{}: no rules", path.display())))?;
    let rule = set.rules.get(k).ok_or_else(|| format!("--match-rule {k}: the file has {} rules", set.len()))?;
    // What stands in the way of rule K is said at the rule.
    let at_rule = |message: String| CliError::File(format!("{}:{}:1: {message}", path.display(), rule.line));
    let key =
        traffic::gen_match::key_matching_rule_from(&set, k, &template.key()).map_err(|e| at_rule(e.to_string()))?;
    let mut matched =
        traffic::template::from_key(&key, kind, template.size).map_err(|e| at_rule(format!("rule {k}: {e}")))?;
    // Keep the wire's own MACs and tag unless the rule tests the headers they are in.
    let tests_plain_l2 = rule.keys.src_mac.is_some() || rule.keys.dst_mac.is_some();
    let (wire_macs, wire_vlan) = match &template.tunnel {
        Some(t) => ((t.src_mac, t.dst_mac), t.vlan),
        None => ((template.plain.src_mac, template.plain.dst_mac), template.plain.vlan),
    };
    if matched.tunnel.is_some() || !tests_plain_l2 {
        matched.set_wire_macs(wire_macs.0, wire_macs.1);
    }
    if matched.tunnel.is_some() || (rule.keys.vlan_id.is_none() && rule.keys.vlan_prio.is_none()) {
        matched.set_outer_vlan(wire_vlan);
    }
    matched.validate()?;
    traffic::gen_match::check_template_matches(&set, k, &matched, flows).map_err(|e| at_rule(e.to_string()))?;
    eprintln!("dataplane gen: frames built to match rule {k} (line {}) of {} first", rule.line, path.display());
    Ok(matched)
}

fn cmd_gen(args: GenArgs) -> Result<(), CliError> {
    let kind = args.template.kind();
    let mut template = Template::new(kind, args.ipv6);
    let wire_src_mac = match (args.src_mac, &args.iface) {
        (Some(mac), _) => mac,
        (None, Some(iface)) => pmd::netdev::mac(iface).unwrap_or(template.key().src_mac),
        (None, None) => traffic::template::UdpTemplate::default().src_mac,
    };
    template.set_wire_macs(wire_src_mac, args.dst_mac);
    template.set_outer_vlan(args.vlan.map(|id| Vlan { id, pcp: 0 }));
    for (addr, flag) in [(args.src_ip, "--src-ip"), (args.dst_ip, "--dst-ip")] {
        if addr.is_some_and(|a| a.is_ipv6() != args.ipv6) {
            let want = if args.ipv6 { "an IPv6 address (--ipv6 is on)" } else { "an IPv4 address (or add --ipv6)" };
            return Err(format!("{flag} {}: give {want}", addr.unwrap_or(IpAddr::from([0, 0, 0, 0]))).into());
        }
    }
    template.plain.src_ip = args.src_ip.unwrap_or(template.plain.src_ip);
    template.plain.dst_ip = args.dst_ip.unwrap_or(template.plain.dst_ip);
    (template.plain.src_port, template.plain.dst_port) = (args.src_port, args.dst_port);
    if let Some(vni) = args.vni {
        match &mut template.tunnel {
            Some(tunnel) => tunnel.key = Some(vni),
            None => return Err(format!("--vni {vni}: only the vxlan, geneve and gre templates have a tunnel").into()),
        }
    }
    template.validate()?;
    if let (Some(path), Some(which)) = (&args.rules, &args.match_rule) {
        template = template_for_rule(template, kind, path, args.format.into(), which, args.flows)?;
    }
    let bad_csum = match args.bad_csum {
        None => None,
        Some(percent) => Some(BadCsum { percent, layer: args.bad_csum_layer.map(CsumLayerArg::layer) }),
    };
    let engine = match args.engine {
        EngineArg::AfXdp => Engine::AfXdp,
        EngineArg::Live => Engine::Live,
        EngineArg::LiveReference => Engine::LiveReference,
    };
    let config = GenConfig {
        engine,
        iface: args.iface,
        template,
        sizes: args.size,
        flows: args.flows,
        bad_csum,
        count: args.count,
        duration: seconds(args.duration, "--duration")?,
        rate: rate(args.rate)?,
        burst: args.burst,
        queue: args.queue,
        mode: match args.mode {
            ModeArg::Auto => BindMode::Auto,
            ModeArg::Copy => BindMode::Copy,
            ModeArg::Zerocopy => BindMode::ZeroCopy,
        },
        core: args.core,
        pcap: args.pcap,
    };
    if let FrameSize::Fixed(size) = config.sizes {
        if template.frame_len(size) > size {
            eprintln!(
                "dataplane gen: {} frames need {} bytes of headers: sending {}-byte frames",
                template.describe(),
                template.headers_len(),
                template.frame_len(size)
            );
        }
    }
    let smallest = match config.sizes {
        FrameSize::Fixed(size) => size,
        FrameSize::Imix => traffic::template::MIN_FRAME,
    };
    if engine != Engine::LiveReference && !template.has_stamp_room(smallest) {
        eprintln!(
            "dataplane gen: {}-byte {} frames have no room for the {}-byte sequence stamp: a sink counts them \
             but sees no loss or latency (from {} bytes on they have)",
            template.frame_len(smallest),
            template.describe(),
            traffic::stamp::STAMP_LEN,
            template.headers_len() + traffic::stamp::STAMP_LEN
        );
    }
    if config.iface.is_some() && config.count.is_none() && config.duration.is_none() {
        eprintln!("dataplane gen: sending until Ctrl-C (give --count or --duration to stop by itself)");
    }
    let report = generate(&config, &stop_on_signals())?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "sent": report.sent, "bytes": report.bytes, "bad_csum": report.bad_csum,
                "seconds": report.seconds, "pps": report.pps(), "gbps": report.gbps(),
                "template": kind.name(), "ipv6": args.ipv6, "flows": args.flows,
                "generated": report.generated, "xmit_errors": report.xmit_errors,
                "offered_src": report.offered_src, "stream": report.stream,
                "cpu_ns": own_cpu_ns(),
            })
        );
    } else if config.iface.is_none() {
        println!("wrote {} frames ({} bytes) to the capture", report.sent, report.bytes);
    } else {
        println!(
            "sent {} frames, {} bytes in {:.3} s: offered {} ({:.3} Gbps of frame bytes){}",
            report.sent,
            report.bytes,
            report.seconds,
            format_pps(report.pps()),
            report.gbps(),
            if report.bad_csum > 0 { format!(", {} with a bad checksum", report.bad_csum) } else { String::new() }
        );
    }
    Ok(())
}

fn cmd_sink(args: SinkArgs) -> Result<(), CliError> {
    let config = SinkConfig {
        iface: args.iface,
        duration: seconds(args.duration, "--duration")?,
        interval: if args.json { None } else { interval(args.interval, "--interval")? },
        engine: match args.engine {
            SinkEngineArg::Xdp => SinkEngine::Xdp,
            SinkEngineArg::Count => SinkEngine::Count,
            SinkEngineArg::AfXdp => SinkEngine::AfXdp,
        },
        mode: match args.mode {
            ModeArg::Auto => BindMode::Auto,
            ModeArg::Copy => BindMode::Copy,
            ModeArg::Zerocopy => BindMode::ZeroCopy,
        },
        latency_every: args.latency_every,
        force: args.force,
    };
    let report = sink(&config, &stop_on_signals(), || eprintln!("dataplane sink: counting on {}", config.iface))?;
    if args.json {
        println!("{}", report.to_json());
        return Ok(());
    }
    println!(
        "received {} frames, {} bytes in {:.3} s ({} while traffic arrived)",
        report.packets,
        report.bytes,
        report.seconds,
        format_pps(report.pps())
    );
    if let Some(s) = &report.sequence {
        println!(
            "sequenced {} (unsequenced {}) in {} stream{}, lost {}, reordered {}, duplicates {}, late {}, \
             dropped by the sink {}",
            s.sequenced,
            s.unsequenced,
            s.streams,
            if s.streams == 1 { "" } else { "s" },
            s.lost,
            s.reordered,
            s.duplicates,
            s.late,
            s.dropped_by_sink
        );
        match &s.latency {
            Some(l) => println!(
                "latency ns (bucket upper bounds, max exact): p50 {} p90 {} p99 {} max {}{}{}",
                l.p50,
                l.p90,
                l.p99,
                l.max,
                if s.latency_every > 1 { format!(" of every {}th frame", s.latency_every) } else { String::new() },
                if s.latency_invalid > 0 { format!(", {} invalid", s.latency_invalid) } else { String::new() }
            ),
            None => println!("latency: no sequenced frame arrived"),
        }
        if s.stream_overflow > 0 {
            println!("{} sequenced frames of streams beyond the 256 tracked", s.stream_overflow);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_intervals_from_the_command_line_are_checked() {
        assert_eq!(seconds(Some(1.5), "--duration"), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(seconds(None, "--duration"), Ok(None));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, MAX_SECONDS * 1.01] {
            let err = seconds(Some(bad), "--duration").unwrap_err();
            assert!(err.starts_with("--duration ") && err.contains("positive number of seconds"), "{bad}: {err}");
        }
        assert_eq!(seconds(Some(MAX_SECONDS), "--duration"), Ok(Some(Duration::from_secs(MAX_SECONDS as u64))));
        assert_eq!(interval(0.0, "--stats-interval"), Ok(None));
        assert_eq!(interval(0.25, "--stats-interval"), Ok(Some(Duration::from_millis(250))));
        for bad in [-1.0, f64::NAN, 1e30] {
            assert!(interval(bad, "--stats-interval").unwrap_err().ends_with("(or 0 for none)"), "{bad}");
        }
    }

    #[test]
    fn rates_are_bounded() {
        assert_eq!(rate(None), Ok(None));
        assert_eq!(rate(Some(1e6)), Ok(Some(1e6)));
        for bad in [0.0, -5.0, 1e-9, 1e300, f64::NAN, f64::INFINITY] {
            assert!(rate(Some(bad)).unwrap_err().contains("give frames per second from"), "{bad}");
        }
    }

    /// Every size on the command line that clap parses into a number is refused with a
    /// message, never a panic, when it does not fit.
    #[test]
    fn oversized_numbers_are_clap_errors() {
        let cases: [&[&str]; 7] = [
            &["dataplane", "run", "--port", "mem:depth=99999999999"],
            &["dataplane", "run", "--port", "mem:depth=300000"],
            &["dataplane", "run", "--port", "mem", "--vxlan-port", "70000"],
            &["dataplane", "sink", "--iface", "x", "--latency-every", "3"],
            &["dataplane", "gen", "--flows", "4294967296", "--pcap", "x"],
            &["dataplane", "gen", "--vlan", "4096", "--pcap", "x"],
            &["dataplane", "rules", "classify", "r", "--trace", "t", "--repeat", "4294967296"],
        ];
        for args in cases {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
    }
}
