//! The lab's vocabulary: targets, matrix points, profiles, measured rows.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

/// A device under test. The names are those of `results.csv` (design.md section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Dataplane,
    TcU32,
    TcFlower,
    TcBpf,
    TcBpfPerRule,
    Xdp,
    DpdkTestpmd,
}

impl Target {
    pub const ALL: [Target; 7] = [
        Target::Dataplane,
        Target::TcU32,
        Target::TcFlower,
        Target::TcBpf,
        Target::TcBpfPerRule,
        Target::Xdp,
        Target::DpdkTestpmd,
    ];

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
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        Target::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
            format!("unknown target `{s}`: expected one of {}", names.join(", "))
        })
    }
}

/// Where the matching rule sits in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Match {
    First,
    Last,
}

impl Match {
    pub const fn name(self) -> &'static str {
        match self {
            Match::First => "first",
            Match::Last => "last",
        }
    }
}

impl FromStr for Match {
    type Err = String;
    fn from_str(s: &str) -> Result<Match, String> {
        match s {
            "first" => Ok(Match::First),
            "last" => Ok(Match::Last),
            _ => Err(format!("unknown match `{s}`: expected first or last")),
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
    pub const fn name(self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Fwd => "fwd",
        }
    }
}

impl FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        match s {
            "drop" => Ok(Action::Drop),
            "fwd" => Ok(Action::Fwd),
            _ => Err(format!("unknown action `{s}`: expected drop or fwd")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Traffic {
    /// Ethernet / IPv4 / UDP.
    Udp,
    /// VXLAN over IPv4/UDP; the dataplane runs with `--csum verify`.
    Vxlan,
}

impl Traffic {
    pub const fn name(self) -> &'static str {
        match self {
            Traffic::Udp => "udp",
            Traffic::Vxlan => "vxlan",
        }
    }
}

impl FromStr for Traffic {
    type Err = String;
    fn from_str(s: &str) -> Result<Traffic, String> {
        match s {
            "udp" => Ok(Traffic::Udp),
            "vxlan" => Ok(Traffic::Vxlan),
            _ => Err(format!("unknown traffic `{s}`: expected udp or vxlan")),
        }
    }
}

/// One point of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Point {
    pub action: Action,
    pub target: Target,
    /// Rules in the file (0: the target does not classify).
    pub rules: usize,
    pub matching: Match,
    /// Frame size in bytes including the 4-byte FCS (RFC 2544 section 9 counts it).
    pub size: u16,
    pub traffic: Traffic,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} rules, {} match, {} B {}",
            self.target,
            self.action.name(),
            self.rules,
            self.matching.name(),
            self.size,
            self.traffic.name()
        )
    }
}

/// One trial's numbers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trial {
    pub seconds: f64,
    pub offered_pps: f64,
    /// Frames that arrived at dut0 (its rx_packets), per second.
    pub arrived_pps: f64,
    pub processed_pps: f64,
    pub delivered_pps: f64,
    /// Busy time of the device's core per processed frame (/proc/stat).
    pub dut_cpu_ns_per_pkt: Option<f64>,
    /// Busy fraction of core 0 and core 1 during the trial.
    pub core_busy: [f64; 2],
    /// Softirq fraction of core 0 and core 1.
    pub core_softirq: [f64; 2],
    /// CPU time of the ingress NAPI thread(s) per second, and the CPU they last ran on.
    pub napi_busy: Option<f64>,
    pub napi_cpu: Option<usize>,
}

impl Trial {
    pub fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds, "offered_pps": self.offered_pps, "arrived_pps": self.arrived_pps,
            "processed_pps": self.processed_pps, "delivered_pps": self.delivered_pps,
            "dut_cpu_ns_per_pkt": self.dut_cpu_ns_per_pkt, "core_busy": self.core_busy,
            "core_softirq": self.core_softirq, "napi_busy": self.napi_busy, "napi_cpu": self.napi_cpu,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Not measured for a reason that is not a fault (the tool or kernel feature is missing).
    Skipped(String),
    /// Tried and failed.
    Failed(String),
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Skipped(_) => "skipped",
            Status::Failed(_) => "failed",
        }
    }

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
    pub point: Point,
    pub status: Status,
    pub trials: Vec<Trial>,
    /// What `processed_pps` was read from.
    pub processed_source: &'static str,
    /// What the rule compiler said (e.g. keys this target reads differently).
    pub notes: Vec<String>,
    /// The zero-loss rate found by the search, when asked for.
    pub ndr_pps: Option<f64>,
    /// Where the device's ingress receive work ran ("napi/dut0 thread on cpu 1", ...).
    pub placement: String,
}

impl Row {
    pub fn new(point: Point, status: Status) -> Row {
        Row {
            point,
            status,
            trials: Vec::new(),
            processed_source: "",
            notes: Vec::new(),
            ndr_pps: None,
            placement: String::new(),
        }
    }

    fn med(&self, f: impl Fn(&Trial) -> f64) -> Option<f64> {
        crate::lab::measure::median(&self.trials.iter().map(f).collect::<Vec<_>>())
    }

    pub fn offered(&self) -> Option<f64> {
        self.med(|t| t.offered_pps)
    }
    pub fn arrived(&self) -> Option<f64> {
        self.med(|t| t.arrived_pps)
    }
    pub fn processed(&self) -> Option<f64> {
        self.med(|t| t.processed_pps)
    }
    pub fn delivered(&self) -> Option<f64> {
        self.med(|t| t.delivered_pps)
    }
    pub fn ns_per_pkt(&self) -> Option<f64> {
        self.med(|t| t.dut_cpu_ns_per_pkt.unwrap_or(f64::NAN))
    }
    pub fn core_busy(&self, core: usize) -> Option<f64> {
        self.med(|t| t.core_busy[core])
    }
    pub fn napi_busy(&self) -> Option<f64> {
        self.med(|t| t.napi_busy.unwrap_or(f64::NAN))
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
