//! The lab's vocabulary: targets, matrix points, profiles, measured rows, the machine, and
//! the constants every part of the lab shares (its cores, its niceness).

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

/// The generator's core, and the sink's.
pub const GEN_CORE: usize = 0;
/// The device under test's core.
pub const DUT_CORE: usize = 1;
/// The lab's processes and NAPI threads run at this niceness, so that other work on a shared
/// machine takes as little of cores 0 and 1 from them as the scheduler allows.
pub const NICENESS: &str = "-15";

/// A name that is none of the known ones (`--targets`, `--match`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name (`target`, `match`, ...).
    pub kind: &'static str,
    /// The name given.
    pub given: String,
    /// The names that would do, for the message.
    pub expected: String,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} `{}`: expected {}", self.kind, self.given, self.expected)
    }
}

impl std::error::Error for UnknownName {}

impl UnknownName {
    fn new(kind: &'static str, given: &str, expected: &str) -> UnknownName {
        UnknownName { kind, given: given.to_string(), expected: expected.to_string() }
    }
}

/// A device under test. The names are those of `results.csv` (design.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `dataplane run --rules` over AF_XDP.
    Dataplane,
    /// tc u32 filters (`rules compile --to tc-u32`).
    TcU32,
    /// tc flower filters.
    TcFlower,
    /// One cls_bpf program for the whole rule set.
    TcBpf,
    /// One cls_bpf program per rule.
    TcBpfPerRule,
    /// One XDP program for the whole rule set.
    Xdp,
    /// DPDK's testpmd forwarding over its AF_XDP driver (forwarding only).
    DpdkTestpmd,
}

impl Target {
    /// Every target, in the report's order.
    pub const ALL: [Target; 7] = [
        Target::Dataplane,
        Target::TcU32,
        Target::TcFlower,
        Target::TcBpf,
        Target::TcBpfPerRule,
        Target::Xdp,
        Target::DpdkTestpmd,
    ];

    /// The name in results.csv and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Dataplane => "dataplane",
            Target::TcU32 => "tc-u32",
            Target::TcFlower => "tc-flower",
            Target::TcBpf => "tc-bpf",
            Target::TcBpfPerRule => "tc-bpf-per-rule",
            Target::Xdp => "xdp",
            Target::DpdkTestpmd => "dpdk-testpmd",
        }
    }

    /// Targets loaded with `dataplane rules compile --to NAME`.
    pub const fn is_kernel(self) -> bool {
        !matches!(self, Target::Dataplane | Target::DpdkTestpmd)
    }

    /// Whether it classifies against the rule file (testpmd only forwards).
    pub const fn classifies(self) -> bool {
        !matches!(self, Target::DpdkTestpmd)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Target, UnknownName> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            UnknownName::new("target", s, &format!("one of {}", names.join(", ")))
        })
    }
}

/// Where the matching rule sits in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Match {
    /// The first rule of the file matches the generator's flow.
    First,
    /// The last rule matches: every classifier looks at every rule.
    Last,
}

impl Match {
    /// The name in results.csv and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Match::First => "first",
            Match::Last => "last",
        }
    }
}

impl FromStr for Match {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Match, UnknownName> {
        match s {
            "first" => Ok(Match::First),
            "last" => Ok(Match::Last),
            _ => Err(UnknownName::new("match", s, "first or last")),
        }
    }
}

/// What the device does with a classified frame (design.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Classify, then dispose of it (the rule-scaling matrix).
    Drop,
    /// Classify, then forward it to the sink (the forwarding comparison).
    Fwd,
}

impl Action {
    /// The name in results.csv and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Fwd => "fwd",
        }
    }
}

impl FromStr for Action {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Action, UnknownName> {
        match s {
            "drop" => Ok(Action::Drop),
            "fwd" => Ok(Action::Fwd),
            _ => Err(UnknownName::new("action", s, "drop or fwd")),
        }
    }
}

/// What the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Traffic {
    /// Ethernet / IPv4 / UDP.
    Udp,
    /// VXLAN over IPv4/UDP; the dataplane runs with `--csum verify`.
    Vxlan,
}

impl Traffic {
    /// The name in results.csv and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Traffic::Udp => "udp",
            Traffic::Vxlan => "vxlan",
        }
    }
}

impl FromStr for Traffic {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Traffic, UnknownName> {
        match s {
            "udp" => Ok(Traffic::Udp),
            "vxlan" => Ok(Traffic::Vxlan),
            _ => Err(UnknownName::new("traffic", s, "udp or vxlan")),
        }
    }
}

/// Where the device's receive work runs (design.md section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placement {
    /// Everything the device does on core 1: dut0's NAPI as a kernel thread pinned there,
    /// next to the device's processes. The generator's core only generates.
    Dedicated,
    /// dut0's NAPI in the sender's softirq, i.e. on the generator's core 0: the receive half
    /// of the device runs there and paces the generator by construction.
    Softirq,
}

impl Placement {
    /// The name in results.csv and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Placement::Dedicated => "dedicated",
            Placement::Softirq => "softirq",
        }
    }
}

impl FromStr for Placement {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Placement, UnknownName> {
        match s {
            "dedicated" => Ok(Placement::Dedicated),
            "softirq" => Ok(Placement::Softirq),
            _ => Err(UnknownName::new("placement", s, "dedicated or softirq")),
        }
    }
}

/// The machine and what it lacks, for the report.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// When the lab ran (UTC).
    pub date: String,
    /// `uname -r`.
    pub kernel: String,
    /// The CPU model.
    pub cpu: String,
    /// Cores available to the lab.
    pub cores: usize,
    /// The dpdk-dev package's version, if installed.
    pub dpdk: String,
    /// `tc -V`.
    pub iproute2: String,
    /// The source commit of the binary.
    pub commit: String,
    /// What the machine lacks, and what that means for the results.
    pub lacks: Vec<String>,
    /// Anything else the report should say (placements, power management, run time).
    pub notes: Vec<String>,
    /// The command line.
    pub command: String,
    /// `--profile`.
    pub profile: String,
    /// Trials per point.
    pub trials: usize,
    /// Seconds per trial.
    pub seconds: f64,
}

/// One point of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Point {
    /// Drop (rule scaling) or fwd (forwarding).
    pub action: Action,
    /// Where the device's receive work runs.
    pub placement: Placement,
    /// The device under test.
    pub target: Target,
    /// Rules in the file (0: the target does not classify).
    pub rules: usize,
    /// Whether the first or the last rule matches.
    pub matching: Match,
    /// Frame size in bytes including the 4-byte FCS (RFC 2544 section 9 counts it).
    pub size: u16,
    /// UDP or VXLAN.
    pub traffic: Traffic,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}) {} rules, {} match, {} B {}",
            self.target,
            self.action.name(),
            self.placement.name(),
            self.rules,
            self.matching.name(),
            self.size,
            self.traffic.name()
        )
    }
}

/// CPU time over one trial's window, in ns, from the scheduler's own clock (schedstat).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUse {
    /// The trial's wall window.
    pub window_ns: f64,
    /// Busy time of core 0 and core 1 (window minus idle).
    pub core_busy_ns: [f64; 2],
    /// The generator process (with the softirq work that ran in its context).
    pub gen_ns: f64,
    /// The device's processes (dataplane, testpmd: every thread), and the part of it in
    /// threads kept on the generator's core 0 (the dataplane's control thread).
    pub process_ns: f64,
    /// The part of `process_ns` on core 0.
    pub process_core0_ns: f64,
    /// dut0's NAPI thread(s) (dedicated placement).
    pub napi_ns: f64,
    /// ksoftirqd/0 and ksoftirqd/1 (softirq work the kernel deferred to them).
    pub ksoftirqd_ns: [f64; 2],
    /// The sink process and sink0's NAPI thread.
    pub sink_ns: f64,
}

impl CpuUse {
    /// As results.json has it.
    pub fn to_json(&self) -> Value {
        json!({
            "window_ns": self.window_ns, "core_busy_ns": self.core_busy_ns, "gen_ns": self.gen_ns,
            "process_ns": self.process_ns, "process_core0_ns": self.process_core0_ns, "napi_ns": self.napi_ns, "ksoftirqd_ns": self.ksoftirqd_ns,
            "sink_ns": self.sink_ns,
        })
    }
}

/// One trial's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trial {
    /// How long the generator sent.
    pub seconds: f64,
    /// Frames that left gen0, by the generator's own counters, per second.
    pub offered_pps: f64,
    /// How `offered_pps` was counted (the generator says).
    pub offered_src: String,
    /// Frames the generator's program made (including those the veth refused), per second.
    pub generated_pps: f64,
    /// Frames that arrived at dut0 (its rx_packets), per second.
    pub arrived_pps: f64,
    /// Frames the device classified, by its own counters, per second.
    pub processed_pps: f64,
    /// Frames the sink counted, per second (0 for drop).
    pub delivered_pps: f64,
    /// The rate the generator was asked for (None: as fast as it goes), and its burst size.
    pub asked_pps: Option<f64>,
    /// The burst size asked for (`None`: evenly spaced).
    pub burst: Option<u32>,
    /// Busy time of the device's core per processed frame (/proc/stat, kept for the
    /// contract column `dut_cpu_ns_per_pkt`).
    pub dut_cpu_ns_per_pkt: Option<f64>,
    /// All of the device's work, on any core, per processed frame (schedstat).
    pub dut_ns_per_pkt: Option<f64>,
    /// The share of that work done on the generator's core 0.
    pub dut_core0_share: Option<f64>,
    /// Busy fraction of core 0 and core 1 during the trial (window minus idle).
    pub core_busy: [f64; 2],
    /// Softirq fraction of core 0 and core 1 (/proc/stat, tick-sampled: indicative only).
    pub core_softirq: [f64; 2],
    /// CPU time of the ingress NAPI thread(s) per second of the window, and the CPU they
    /// last ran on.
    pub napi_busy: Option<f64>,
    /// The CPU the ingress NAPI thread last ran on.
    pub napi_cpu: Option<usize>,
    /// Everyone's CPU time over the trial's window.
    pub cpu: CpuUse,
    /// What the sink's stamps said (fwd): frames lost on the way, latency percentiles.
    pub lost: Option<u64>,
    /// Median latency, ns.
    pub latency_p50_ns: Option<f64>,
    /// 99th percentile latency, ns.
    pub latency_p99_ns: Option<f64>,
    /// The dataplane's own busy-poll accounting: ns of real work per frame, frames per
    /// busy poll.
    pub worker_ns_per_frame: Option<f64>,
    /// Frames per busy poll of the dataplane's worker.
    pub worker_frames_per_poll: Option<f64>,
}

impl Trial {
    /// As results.json has it.
    pub fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds, "offered_pps": self.offered_pps, "offered_src": self.offered_src,
            "generated_pps": self.generated_pps, "arrived_pps": self.arrived_pps,
            "processed_pps": self.processed_pps, "delivered_pps": self.delivered_pps,
            "asked_pps": self.asked_pps, "burst": self.burst,
            "dut_cpu_ns_per_pkt": self.dut_cpu_ns_per_pkt, "dut_ns_per_pkt": self.dut_ns_per_pkt,
            "dut_core0_share": self.dut_core0_share, "core_busy": self.core_busy,
            "core_softirq": self.core_softirq, "napi_busy": self.napi_busy, "napi_cpu": self.napi_cpu,
            "cpu": self.cpu.to_json(), "lost": self.lost, "latency_p50_ns": self.latency_p50_ns,
            "latency_p99_ns": self.latency_p99_ns, "worker_ns_per_frame": self.worker_ns_per_frame,
            "worker_frames_per_poll": self.worker_frames_per_poll,
        })
    }

    /// The figure that compares targets: processed for `drop`, delivered for `fwd`.
    pub fn figure(&self, action: Action) -> f64 {
        match action {
            Action::Drop => self.processed_pps,
            Action::Fwd => self.delivered_pps,
        }
    }

    /// Lost between the generator and the figure, in percent of what was offered.
    pub fn loss_pct(&self, action: Action) -> f64 {
        if self.offered_pps > 0.0 {
            ((1.0 - self.figure(action) / self.offered_pps) * 100.0).max(0.0)
        } else {
            100.0
        }
    }
}

/// How a point went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Measured.
    Ok,
    /// Not measured for a reason that is not a fault (the tool or kernel feature is missing).
    Skipped(String),
    /// Tried and failed.
    Failed(String),
}

impl Status {
    /// The name in results.csv.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped(_) => "skipped",
            Status::Failed(_) => "failed",
        }
    }

    /// Why it was skipped or failed (empty when it was measured).
    pub fn reason(&self) -> &str {
        match self {
            Status::Ok => "",
            Status::Skipped(r) | Status::Failed(r) => r,
        }
    }
}

/// A point, its trials and their medians.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What was measured.
    pub point: Point,
    /// How it went.
    pub status: Status,
    /// The trials at maximum load.
    pub trials: Vec<Trial>,
    /// What `processed_pps` was read from.
    pub processed_source: &'static str,
    /// What the rule compiler said (e.g. keys this target reads differently).
    pub notes: Vec<String>,
    /// The zero-loss rate found by the search, when asked for, and the partial drop rate
    /// (at most 0.5 % lost).
    pub ndr_pps: Option<f64>,
    /// The partial drop rate (at most 0.5 % lost).
    pub pdr_pps: Option<f64>,
    /// The trials of the zero-loss search (paced), and the bursty-load trial.
    pub ndr_trials: Vec<Trial>,
    /// The trial at bursty load.
    pub burst_trial: Option<Trial>,
    /// Where the device's ingress receive work ran ("napi/dut0 thread on cpu 1", ...).
    pub placement: String,
}

impl Row {
    /// A row with no trial yet.
    pub fn new(point: Point, status: Status) -> Row {
        Row {
            point,
            status,
            trials: Vec::new(),
            processed_source: "",
            notes: Vec::new(),
            ndr_pps: None,
            pdr_pps: None,
            ndr_trials: Vec::new(),
            burst_trial: None,
            placement: String::new(),
        }
    }

    fn med(&self, f: impl Fn(&Trial) -> f64) -> Option<f64> {
        crate::measure::median(&self.trials.iter().map(f).collect::<Vec<_>>())
    }

    /// The median offered rate, frames per second.
    pub fn offered(&self) -> Option<f64> {
        self.med(|t| t.offered_pps)
    }
    /// The median rate that arrived at dut0.
    pub fn arrived(&self) -> Option<f64> {
        self.med(|t| t.arrived_pps)
    }
    /// The median processed rate.
    pub fn processed(&self) -> Option<f64> {
        self.med(|t| t.processed_pps)
    }
    /// The median delivered rate.
    pub fn delivered(&self) -> Option<f64> {
        self.med(|t| t.delivered_pps)
    }
    /// The median busy time of the device's core per processed frame, ns.
    pub fn ns_per_pkt(&self) -> Option<f64> {
        self.med(|t| t.dut_cpu_ns_per_pkt.unwrap_or(f64::NAN))
    }
    /// The median busy share of `core`.
    pub fn core_busy(&self, core: usize) -> Option<f64> {
        self.med(|t| t.core_busy[core])
    }
    /// The median busy share of the ingress NAPI thread.
    pub fn napi_busy(&self) -> Option<f64> {
        self.med(|t| t.napi_busy.unwrap_or(f64::NAN))
    }
    /// The median of all the device's work per processed frame, ns.
    pub fn dut_ns_per_pkt(&self) -> Option<f64> {
        self.med(|t| t.dut_ns_per_pkt.unwrap_or(f64::NAN))
    }
    /// The median share of the device's work on core 0.
    pub fn dut_core0_share(&self) -> Option<f64> {
        self.med(|t| t.dut_core0_share.unwrap_or(f64::NAN))
    }
    /// The median rate the generator's program made.
    pub fn generated(&self) -> Option<f64> {
        self.med(|t| t.generated_pps)
    }
    /// The median of the trials' median latencies, ns.
    pub fn latency_p50(&self) -> Option<f64> {
        self.med(|t| t.latency_p50_ns.unwrap_or(f64::NAN))
    }
    /// The median of the trials' 99th percentile latencies, ns.
    pub fn latency_p99(&self) -> Option<f64> {
        self.med(|t| t.latency_p99_ns.unwrap_or(f64::NAN))
    }
    /// How the offered rate was counted (the first trial says).
    pub fn offered_src(&self) -> &str {
        self.trials.first().map_or("", |t| t.offered_src.as_str())
    }

    /// Who set the figure at maximum load, from the numbers: the device when it was offered
    /// at least 1.2x what it handled; the generator when the device handled (nearly) all of
    /// it; in the softirq placement the device's receive half runs in the generator's
    /// softirq, so the device paces the generator by construction.
    pub fn limit(&self) -> &'static str {
        let (Some(offered), Some(got)) = (self.offered(), self.figure()) else { return "" };
        if self.point.placement == Placement::Softirq && got >= 0.97 * offered {
            return "device (paces the generator through its softirq)";
        }
        if offered >= 1.2 * got {
            "device"
        } else if got >= 0.97 * offered {
            "generator"
        } else {
            "unclear (offered within 1.2x of handled)"
        }
    }

    /// The rate overload is judged against: the partial drop rate when searched, else the
    /// zero-loss rate.
    fn sustained(&self) -> Option<f64> {
        self.pdr_pps.or(self.ndr_pps).filter(|&n| n > 0.0)
    }

    /// Throughput at maximum offered load against the partial drop rate: how well the
    /// device holds under overload (1.0: it still handles what it sustains when not
    /// overloaded).
    pub fn overload_ratio(&self) -> Option<f64> {
        Some(self.figure()? / self.sustained()?)
    }

    /// Offered load at maximum against the partial drop rate.
    pub fn overload_factor(&self) -> Option<f64> {
        Some(self.offered()? / self.sustained()?)
    }

    /// The figure under bursty load.
    pub fn burst_figure(&self) -> Option<f64> {
        self.burst_trial.as_ref().map(|t| t.figure(self.point.action))
    }

    /// The figure that compares targets: processed for `drop`, delivered for `fwd`.
    pub fn figure(&self) -> Option<f64> {
        match self.point.action {
            Action::Drop => self.processed(),
            Action::Fwd => self.delivered(),
        }
    }

    /// Frames lost between the generator and the end of the path, in percent.
    pub fn loss_pct(&self) -> Option<f64> {
        let offered = self.offered()?;
        let got = self.figure()?;
        (offered > 0.0).then(|| ((offered - got) / offered * 100.0).max(0.0))
    }

    /// Frame bits per second at the sink (frame bytes including FCS; no preamble or gap).
    pub fn delivered_gbps(&self) -> Option<f64> {
        self.delivered().map(|pps| pps * f64::from(self.point.size) * 8.0 / 1e9)
    }
}
