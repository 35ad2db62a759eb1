//! `dataplane lab`: the head-to-head benchmark. The same rule file goes through the dataplane
//! and through the kernel's own classifiers (tc u32, tc flower, tc cls_bpf, XDP, all loaded
//! with `dataplane rules compile`), and the forwarding path is also compared with DPDK's
//! testpmd. Generator namespace <-> device under test <-> sink namespace, over veth; the
//! generator and the sink on core 0, all of the device's work on core 1. See docs/lab.md.
//!
//! - [`topo`]: the topology and the processes, each a guard that removes itself on drop (so
//!   an error, a failing target or Ctrl-C leaves nothing behind), each process killed with
//!   the lab (so `kill -9` leaves none either).
//! - [`private`]: the run's private work directory and files.
//! - [`registry`]: what a run made, for `lab --clean` and the next run to take away.
//! - [`targets`]: rule files, loading each target, one trial.
//! - [`measure`]: /proc/stat, thread times, the tools' counters.
//! - [`report`] and [`plot`]: results.csv, results.json, report.md, SVG figures.

mod error;
pub mod measure;
pub mod model;
pub mod plot;
pub mod private;
pub mod registry;
pub mod report;
pub mod targets;
pub mod topo;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

pub use error::{Error, ProcessEvent};
use model::{Action, Machine, Match, Placement, Point, Row, Status, Target, Traffic, DUT_CORE, GEN_CORE};
use registry::Registry;
use targets::{Ctx, Dut, Load, CHILD_SLACK_S};
use topo::Topology;

/// The `--help` text after the flags: examples, profiles, placements, cleanup.
pub const LAB_EXAMPLES: &str = "\
Examples:
  dataplane lab --profile quick --out lab-out       (as root; every target, about 6 minutes)
  dataplane lab --profile full --out lab-full
  dataplane lab --targets dataplane,tc-u32 --rules 1,100,1000 --match last --placement dedicated --trials 5
  dataplane lab --clean                             (after a lab that was killed: see below)

Profiles (each list can be overridden by its flag):
  quick  drop: rules 1,10,100,1000 x last x 64 B x udp, every classifier, dedicated placement
         (the fewest and most rules also in the softirq placement); fwd: 1 rule, every
         target, both placements; 1 trial of 2 s at maximum load, then a zero-loss search
         and partial drop rate search
         (up to 7 trials of 0.5 s), and a bursty trial per fwd point
  full   drop: rules 1,10,100,1000 x first,last x 64,512,1500 B x udp,vxlan;
         fwd: rules 1,1000 x last x 64,512,1500 B x udp,vxlan; both placements;
         3 trials of 3 s, zero-loss search of 1 s trials
  smoke  one rule, 64 B udp, every target, dedicated, 1 trial of 0.5 s, no search (CI)

Placements: dedicated = everything the device does on core 1 (dut0's NAPI as a thread
pinned there); softirq = dut0's NAPI in the generator's softirq on core 0.

Writes DIR/results.csv, results.json, report.md and SVG plots. Needs root, iproute2, ethtool;
dpdk-testpmd (Debian's dpdk-dev) for that target. Ctrl-C stops, cleans up and writes what was
measured so far.

A killed lab (kill -9) leaves no namespace, veth, pin, process or raised priority: its
processes die with it and its namespaces with them. Its work directory (a private
dataplane-lab-PREFIX-RANDOM in $TMPDIR or /tmp) and DPDK's run directory stay, listed in
/run/dataplane-lab/PID; `dataplane lab --clean` removes them (and kills and restores whatever
a lab killed at the wrong instant left) for every lab no longer running, and so does every
lab when it starts.";

/// `--profile`: the matrix and the trial length.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Every classifier at 1 to 1000 rules, 64 B UDP, one trial of 2 s, searches (about 6 minutes).
    Quick,
    /// First and last rule, three sizes, UDP and VXLAN, both placements, three trials of 3 s.
    Full,
    /// One rule, 64 B UDP, every target, one trial of 0.5 s, no search (CI).
    Smoke,
}

/// `dataplane lab`'s flags.
#[derive(Args, Debug)]
pub struct LabArgs {
    /// Clean up after labs that were killed (work directories, DPDK run directories, and any
    /// process or NAPI priority left), as listed in /run/dataplane-lab, then exit.
    #[arg(long)]
    pub clean: bool,
    /// The matrix and trial length (the flags below override parts of it).
    #[arg(long, value_enum, default_value = "quick")]
    pub profile: Profile,
    /// Where results.csv, results.json, report.md and the plots go.
    #[arg(long, value_name = "DIR", default_value = "lab-out")]
    pub out: PathBuf,
    /// Targets, comma-separated: dataplane, tc-u32, tc-flower, tc-bpf, tc-bpf-per-rule, xdp, dpdk-testpmd.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub targets: Vec<Target>,
    /// Rule counts, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub rules: Vec<usize>,
    /// Where the matching rule is: first, last.
    #[arg(long = "match", value_delimiter = ',', value_name = "LIST")]
    pub matching: Vec<Match>,
    /// Frame sizes in bytes including the FCS (64 to 1518).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub sizes: Vec<u16>,
    /// Traffic: udp, vxlan.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub traffic: Vec<Traffic>,
    /// Which comparisons: drop (rule scaling), fwd (forwarding).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub actions: Vec<Action>,
    /// Trials per point (the median is reported).
    #[arg(long, value_name = "N")]
    pub trials: Option<usize>,
    /// Seconds of traffic per trial.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Where the device's receive work runs: dedicated (all on core 1), softirq (dut0's NAPI
    /// on the generator's core), comma-separated [default: as the profile says].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub placement: Vec<Placement>,
    /// Search the zero-loss rate of each point (RFC 2544 section 26.1), by bisection with
    /// the paced generator [default: on, except in the smoke profile].
    #[arg(long, overrides_with = "no_ndr")]
    pub ndr: bool,
    /// No zero-loss search and no bursty trial.
    #[arg(long)]
    pub no_ndr: bool,
    /// Loss the zero-loss search still accepts, in percent.
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub ndr_loss: f64,
    /// Let idle cores halt (by default the lab holds /dev/cpu_dma_latency at 0 for the run,
    /// so they poll: waking a halted vCPU takes the host).
    #[arg(long)]
    pub no_pm_qos: bool,
    /// How long the dataplane's worker sleeps after an empty poll in the dedicated placement,
    /// where it shares core 1 with dut0's NAPI thread (`run --idle sleep:US`).
    #[arg(long, value_name = "US", default_value_t = 100)]
    pub idle_us: u64,
    /// Keep the per-trial logs (printed at the end).
    #[arg(long)]
    pub keep_logs: bool,
    /// Namespace prefix (default: dl + the pid).
    #[arg(long, hide = true)]
    pub prefix: Option<String>,
    /// Test hook: TARGET makes that target fail after it was set up; TARGET:abort makes
    /// the whole lab fail there (env DATAPLANE_LAB_INJECT works too).
    #[arg(long, hide = true, value_name = "TARGET[:abort]")]
    pub inject_failure: Option<String>,
}

/// The matrix of a profile.
pub struct Matrix {
    /// Every point, in the order they run.
    pub points: Vec<Point>,
    /// Trials per point at maximum load.
    pub trials: usize,
    /// Seconds of traffic per trial.
    pub seconds: f64,
    /// Seconds of each trial of the zero-loss search.
    pub ndr_seconds: f64,
    /// Whether to search the zero-loss rates (and run the bursty trials).
    pub ndr: bool,
}

fn or<T: Clone>(given: &[T], default: &[T]) -> Vec<T> {
    if given.is_empty() {
        default.to_vec()
    } else {
        given.to_vec()
    }
}

/// The points, trials and lengths `args` ask for (its profile, with the flags' lists).
pub fn matrix(args: &LabArgs) -> Result<Matrix, Error> {
    use Match::*;
    use Traffic::*;
    type Lists = (Vec<usize>, Vec<Match>, Vec<u16>, Vec<Traffic>);
    // (drop, fwd, trials, seconds, zero-loss trial seconds, search by default, the softirq
    // placement only at the fewest and most rules of drop)
    let (drop, fwd, trials, seconds, ndr_seconds, ndr, softirq_ends): (Lists, Lists, usize, f64, f64, bool, bool) =
        match args.profile {
            Profile::Quick => (
                (vec![1, 10, 100, 1000], vec![Last], vec![64], vec![Udp]),
                (vec![1], vec![Last], vec![64], vec![Udp]),
                1,
                2.0,
                0.5,
                true,
                true,
            ),
            Profile::Full => (
                (vec![1, 10, 100, 1000], vec![First, Last], vec![64, 512, 1500], vec![Udp, Vxlan]),
                (vec![1, 1000], vec![Last], vec![64, 512, 1500], vec![Udp, Vxlan]),
                3,
                3.0,
                1.0,
                true,
                false,
            ),
            Profile::Smoke => (
                (vec![1], vec![Last], vec![64], vec![Udp]),
                (vec![1], vec![Last], vec![64], vec![Udp]),
                1,
                0.5,
                0.5,
                false,
                false,
            ),
        };
    let placements = if args.placement.is_empty() {
        if args.profile == Profile::Smoke {
            vec![Placement::Dedicated]
        } else {
            vec![Placement::Dedicated, Placement::Softirq]
        }
    } else {
        args.placement.clone()
    };
    let ndr = (ndr || args.ndr) && !args.no_ndr;
    let targets = or(&args.targets, &Target::ALL);
    let actions = or(&args.actions, &[Action::Drop, Action::Fwd]);
    if let Some(&bad) = args.sizes.iter().find(|&&s| !(64..=1518).contains(&s)) {
        return Err(Error::BadArgument {
            flag: "--sizes",
            value: bad.to_string(),
            expected: "frame sizes are 64 to 1518 bytes (with the FCS)",
        });
    }
    if let Some(&bad) = args.rules.iter().find(|&&n| n == 0 || n > 100_000) {
        return Err(Error::BadArgument { flag: "--rules", value: bad.to_string(), expected: "give 1 to 100000 rules" });
    }
    let seconds = args.seconds.unwrap_or(seconds);
    if !(seconds.is_finite() && (0.1..=3600.0).contains(&seconds)) {
        return Err(Error::BadArgument { flag: "--seconds", value: seconds.to_string(), expected: "give 0.1 to 3600" });
    }
    let trials = args.trials.unwrap_or(trials);
    if !(1..=99).contains(&trials) {
        return Err(Error::BadArgument { flag: "--trials", value: trials.to_string(), expected: "give 1 to 99" });
    }
    let mut points = BTreeSet::new();
    for action in actions {
        let lists = if action == Action::Drop { &drop } else { &fwd };
        let rules = or(&args.rules, &lists.0);
        let matches = or(&args.matching, &lists.1);
        let sizes = or(&args.sizes, &lists.2);
        let traffics = or(&args.traffic, &lists.3);
        let (fewest, most) = (rules.iter().min().copied(), rules.iter().max().copied());
        for &placement in &placements {
            for &traffic in &traffics {
                for &size in &sizes {
                    for &matching in &matches {
                        for &n in &rules {
                            // The quick profile shows the softirq placement at the ends only.
                            let ends_only = softirq_ends && args.rules.is_empty() && placement == Placement::Softirq;
                            if ends_only && Some(n) != fewest && Some(n) != most {
                                continue;
                            }
                            for &target in &targets {
                                let (n, matching) = if target.classifies() { (n, matching) } else { (0, Last) };
                                points.insert(Point { action, placement, target, rules: n, matching, size, traffic });
                            }
                        }
                    }
                }
            }
        }
    }
    // Targets innermost: neighbours in time are different targets, so a slow minute on this
    // shared machine does not fall on one target only.
    let mut points: Vec<Point> = points.into_iter().collect();
    points.sort_by_key(|p| (p.action, p.placement, p.traffic, p.size, p.matching, p.rules, p.target));
    Ok(Matrix { points, trials, seconds, ndr_seconds, ndr })
}

/// The longest a point can take: every trial (maximum load, the searches' steps, the
/// bursty one) running into each time limit the lab has, plus its set-up.
fn point_limit(matrix: &Matrix) -> Duration {
    let trial = |seconds: f64| seconds + CHILD_SLACK_S + 30.0;
    let searched = (PDR_STEPS + NDR_STEPS + 1) as f64 * trial(matrix.ndr_seconds);
    Duration::from_secs_f64(matrix.trials as f64 * trial(matrix.seconds) + searched + 120.0)
}

/// Removes the work directory and DPDK's run directory on drop.
struct Cleanup {
    work: PathBuf,
    keep: bool,
    dpdk_dir: PathBuf,
    dpdk_parent_existed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dpdk_dir);
        if !self.dpdk_parent_existed {
            if let Some(parent) = self.dpdk_dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

fn text_of(cmd: &mut Command) -> String {
    cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()
}

fn machine(ctx: &Ctx, args: &LabArgs, matrix: &Matrix) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(|| "?".into());
    let repo = ctx.bin.parent().and_then(Path::parent).and_then(Path::parent).map(Path::to_path_buf);
    let commit = repo
        .map(|r| text_of(Command::new("git").arg("-C").arg(r).args(["rev-parse", "--short", "HEAD"])))
        .unwrap_or_default();
    Machine {
        date: text_of(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        kernel: text_of(Command::new("uname").arg("-r")),
        cpu,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        dpdk: text_of(Command::new("dpkg-query").args(["-W", "-f=${Version}", "dpdk-dev"])),
        iproute2: text_of(Command::new("tc").arg("-V")),
        commit,
        lacks: Vec::new(),
        notes: Vec::new(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        profile: format!("{:?}", args.profile).to_lowercase(),
        trials: matrix.trials,
        seconds: matrix.seconds,
    }
}

/// Why a target cannot run at all here (tool or kernel feature missing), if so.
fn unavailable(ctx: &Ctx, point: &Point, flower: &Result<(), Error>) -> Option<String> {
    match point.target {
        Target::DpdkTestpmd if !targets::have("dpdk-testpmd") => {
            return Some("dpdk-testpmd not installed (Debian package dpdk-dev)".into())
        }
        Target::DpdkTestpmd if point.action == Action::Drop => {
            return Some("testpmd does not classify: it is in the forwarding comparison only".into())
        }
        Target::TcFlower => {
            if let Err(e) = flower {
                return Some(format!("the kernel has no tc flower (cls_flower): {e}"));
            }
        }
        _ => {}
    }
    if point.traffic == Traffic::Vxlan && !ctx.gen_vxlan {
        return Some("`dataplane gen` has no vxlan template in this build".into());
    }
    if point.traffic == Traffic::Vxlan && !ctx.gen_match_rule && point.target.classifies() {
        return Some("`dataplane gen` cannot aim VXLAN's inner headers at a rule (--match-rule) in this build".into());
    }
    None
}

/// Keeps idle cores polling instead of halting while the lab runs: a PM QoS request of
/// 0 µs on /dev/cpu_dma_latency, held as long as the file is open (so a killed lab releases
/// it), the way tuned's latency-performance profile does. On this VM an idle core halts
/// (cpuidle's haltpoll state) and waking it takes the host: a NAPI thread woken on a
/// halted core 1 let the veth's 256-frame ring overflow at a fraction of the rate the same
/// thread handled when kept busy, so every zero-loss rate measured the host's wake-up.
struct KeepCoresAwake(#[allow(dead_code)] std::fs::File);

impl KeepCoresAwake {
    fn request() -> Result<KeepCoresAwake, Error> {
        use std::io::Write;
        const PATH: &str = "/dev/cpu_dma_latency";
        let file_error = |source| Error::File { path: PATH.into(), source };
        let mut file = std::fs::OpenOptions::new().write(true).open(PATH).map_err(file_error)?;
        file.write_all(&0i32.to_ne_bytes()).map_err(file_error)?;
        Ok(KeepCoresAwake(file))
    }
}

struct Runner<'a> {
    ctx: &'a Ctx,
    trials: usize,
    ndr: Option<f64>,
    bar: ProgressBar,
    prefix: String,
    seq: usize,
}

impl Runner<'_> {
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    fn point(&mut self, point: Point) -> Result<Row, Error> {
        self.seq += 1;
        let prefix = format!("{}p{}", self.prefix, self.seq);
        let topo = Topology::up(&prefix, &self.ctx.work, self.ctx.point_limit, self.ctx.registry.clone())?;
        let (napi, mut placement) = match point.placement {
            Placement::Dedicated => {
                // Kernel targets: the NAPI thread is all the device does, so it runs
                // SCHED_FIFO (other work on this shared machine cannot take the core from
                // it). Process targets share the core with it: it stays SCHED_OTHER and the
                // process decides when it runs (the dataplane sleeps after empty polls).
                let fifo = point.target.is_kernel();
                let pids = topo::threaded_napi(&topo, "dut", "dut0", DUT_CORE, fifo)?;
                if pids.is_empty() {
                    return Err(Error::NoNapiThread { dev: "dut0" });
                }
                let text = format!(
                    "dut0: threaded NAPI {pids:?} pinned to core {DUT_CORE} ({})",
                    if fifo { "SCHED_FIFO" } else { "SCHED_OTHER, sharing the core with the device's process" }
                );
                (pids, text)
            }
            Placement::Softirq => {
                run_checked_gro(&topo, "dut", "dut0")?;
                (Vec::new(), format!("dut0: NAPI in the generator's softirq on core {GEN_CORE}"))
            }
        };
        // The sink's receive work (its veth NAPI) on the sink's core, not the device's.
        let sink_napi = topo::threaded_napi(&topo, "sink", "sink0", GEN_CORE, true)?;
        placement.push_str(if sink_napi.is_empty() {
            "; sink0: softirq of the sender (the device's core)"
        } else {
            "; sink0: threaded NAPI pinned to core 0 (SCHED_FIFO)"
        });
        let dut = Dut::setup(self.ctx, &topo, point, napi, sink_napi)?;
        let mut row = Row::new(point, Status::Ok);
        row.processed_source = dut.processed_source;
        row.notes = dut.notes.clone();
        for i in 0..self.trials {
            self.bar.set_message(format!("{point} (trial {}/{})", i + 1, self.trials));
            let trial = dut.trial(self.ctx, &format!("{prefix}-t{i}"), Load::Max, self.ctx.seconds)?;
            row.trials.push(trial);
            self.bar.inc(1);
        }
        if let Some(limit) = self.ndr {
            let (ndr, pdr) = self.ndr_search(&dut, &mut row, limit, &prefix)?;
            row.ndr_pps = Some(ndr);
            row.pdr_pps = Some(pdr);
            // Forwarding (where bursts used to collapse the dataplane): bursts as large as
            // the veth's ring (256 frames) at half the zero-loss rate; a device that holds
            // its partial drop rate smoothly should not lose (many of) them.
            if let Some(ndr) = row.pdr_pps.filter(|&n| n >= 2_000.0 && point.action == Action::Fwd) {
                self.bar.set_message(format!("{point} (bursty load)"));
                let load = Load::Paced { rate: ndr / 2.0, burst: Some(BURST_FRAMES) };
                row.burst_trial = Some(dut.trial(self.ctx, &format!("{prefix}-burst"), load, self.ctx.ndr_seconds)?);
            }
        }
        if let Some(first) = row.trials.first() {
            if let (Some(busy), Some(cpu)) = (first.napi_busy, first.napi_cpu) {
                placement.push_str(&format!("; napi/dut0 ran {:.0}% of the window, last on cpu {cpu}", busy * 100.0));
            }
        }
        row.placement = placement;
        Ok(row)
    }

    /// Two searches by bisection with the paced generator, one trial per step: the partial
    /// drop rate (the highest rate losing at most [`PDR_LOSS_PCT`], as FD.io CSIT's
    /// MLRsearch reports it) between 0 and the unpaced offered rate, its first step just
    /// under what the device handled at maximum load; then the zero-loss rate (RFC 2544
    /// section 26.1; at most `limit` percent lost, 0 by default) below it. On this
    /// machine a trial at a rate the device sustains still loses a few hundred frames now
    /// and then (the host stalls a vCPU for longer than the veth's 256-frame ring lasts),
    /// which pulls the zero-loss rate far under what the device can do; the partial drop
    /// rate is the one the overload check holds the device to.
    fn ndr_search(&mut self, dut: &Dut, row: &mut Row, limit: f64, prefix: &str) -> Result<(f64, f64), Error> {
        let top = row.offered().unwrap_or(0.0);
        let handled = row.figure().unwrap_or(0.0);
        let mut step = 0;
        let mut search = |runner: &mut Self,
                          row: &mut Row,
                          loss: f64,
                          mut lo: f64,
                          mut hi: f64,
                          first: Option<f64>,
                          steps: usize| {
            if row.loss_pct().is_some_and(|l| l <= loss) && lo == 0.0 {
                return Ok::<f64, Error>(top);
            }
            for k in 0..steps {
                let rate = match first {
                    Some(first) if k == 0 && first > lo && first < hi => first,
                    _ => (lo + hi) / 2.0,
                };
                if rate < 1000.0 {
                    break;
                }
                runner.bar.set_message(format!("{} (loss <= {loss}% search, {:.0} kpps)", row.point, rate / 1e3));
                let load = Load::Paced { rate, burst: None };
                let trial = dut.trial(runner.ctx, &format!("{prefix}-ndr{step}"), load, runner.ctx.ndr_seconds)?;
                step += 1;
                if trial.loss_pct(row.point.action) <= loss {
                    lo = trial.offered_pps.min(rate).max(lo);
                } else {
                    hi = rate;
                }
                row.ndr_trials.push(trial);
            }
            Ok(lo)
        };
        let pdr =
            search(self, row, PDR_LOSS_PCT.max(limit), 0.0, top, (handled > 0.0).then_some(handled * 0.95), PDR_STEPS)?;
        // The zero-loss rate is at most the partial drop rate: search below it, first at it.
        let ndr = if limit >= PDR_LOSS_PCT {
            pdr
        } else {
            let clean =
                row.ndr_trials.iter().any(|t| t.loss_pct(row.point.action) <= limit && t.offered_pps >= 0.98 * pdr);
            if clean {
                pdr
            } else {
                search(self, row, limit, 0.0, pdr, None, NDR_STEPS)?
            }
        };
        Ok((ndr, pdr))
    }
}

/// Loss the partial drop rate accepts, in percent (FD.io CSIT's PDR).
pub const PDR_LOSS_PCT: f64 = 0.5;
/// Bisection steps of the partial drop rate search, then of the zero-loss search below it.
const PDR_STEPS: usize = 4;
const NDR_STEPS: usize = 3;
/// Frames per burst in the bursty trial: the veth's ring (VETH_RING_SIZE).
const BURST_FRAMES: u32 = 256;

fn run_checked_gro(topo: &Topology, role: &str, dev: &str) -> Result<(), Error> {
    topo::run_checked(topo.exec(role, "ethtool").args(["-K", dev, "gro", "on"]), "ethtool -K gro on").map(drop)
}

fn parse_injection(text: &str) -> Result<(Target, bool), Error> {
    let (name, abort) = match text.strip_suffix(":abort") {
        Some(name) => (name, true),
        None => (text, false),
    };
    Ok((name.parse()?, abort))
}

/// `dataplane lab`.
pub fn main(args: LabArgs) -> Result<(), Error> {
    // The namespaces need CAP_SYS_ADMIN (and XDP, tc and bpffs need root too).
    let uid = text_of(Command::new("id").arg("-u"));
    if uid != "0" {
        return Err(Error::NotRoot);
    }
    // What killed labs left (their pid is gone), before anything else.
    let cleaned =
        registry::clean(Path::new(registry::DIR)).into_iter().chain(registry::clean_named_netns()).collect::<Vec<_>>();
    for line in &cleaned {
        eprintln!("dataplane lab: {line}");
    }
    if args.clean {
        if cleaned.is_empty() {
            eprintln!("dataplane lab --clean: nothing left by an earlier lab");
        }
        return Ok(());
    }
    for tool in ["ip", "tc", "ethtool", "taskset", "nsenter", "unshare", "setpriv", "prlimit", "chrt", "renice"] {
        if !targets::have(tool) {
            return Err(Error::MissingTool { tool });
        }
    }
    let matrix = matrix(&args)?;
    let inject = match args.inject_failure.clone().or_else(|| std::env::var("DATAPLANE_LAB_INJECT").ok()) {
        Some(text) if !text.is_empty() => Some(parse_injection(&text)?),
        _ => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second Ctrl-C ends the lab at once (cleanup skipped); the first one stops it
        // cleanly.
        let handler = |source| Error::System { what: format!("registering a handler of signal {signal}"), source };
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone()).map_err(handler)?;
        signal_hook::flag::register(signal, stop.clone()).map_err(handler)?;
    }
    let pid = std::process::id();
    let prefix = args.prefix.clone().unwrap_or_else(|| format!("dl{pid}"));
    if !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || prefix.is_empty() || prefix.len() > 16 {
        return Err(Error::BadArgument {
            flag: "--prefix",
            value: format!("{prefix:?}"),
            expected: "1 to 16 of [A-Za-z0-9_]",
        });
    }
    let temp = std::env::temp_dir();
    let work = private::create_dir(&temp, &prefix).map_err(|source| Error::WorkDir { parent: temp.clone(), source })?;
    let dpdk_dir = PathBuf::from("/var/run/dpdk").join(format!("{prefix}-tp"));
    // Declared before the cleanup guard, so dropped after it: the state file goes last.
    let registry =
        Arc::new(Registry::create(Path::new(registry::DIR), &prefix, &work, &dpdk_dir).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&work);
        })?);
    let _cleanup = Cleanup {
        work: work.clone(),
        keep: args.keep_logs,
        dpdk_parent_existed: Path::new("/var/run/dpdk").exists(),
        dpdk_dir,
    };
    let bin = std::env::current_exe()
        .map_err(|source| Error::System { what: "cannot find this binary".to_string(), source })?;
    let gen_help = text_of(Command::new(&bin).args(["gen", "--help"]));
    let ctx = Ctx {
        bin,
        stop,
        work: work.clone(),
        seconds: matrix.seconds,
        ndr_seconds: matrix.ndr_seconds,
        gen_vxlan: gen_help.contains("vxlan"),
        gen_match_rule: gen_help.contains("--match-rule"),
        idle_us: args.idle_us,
        dpdk_prefix: format!("{prefix}-tp"),
        registry: registry.clone(),
        point_limit: point_limit(&matrix),
        inject,
    };
    let mut machine = machine(&ctx, &args, &matrix);
    let _awake = if args.no_pm_qos {
        machine.notes.push("idle cores may halt (--no-pm-qos): zero-loss rates include the host's wake-up".into());
        None
    } else {
        match KeepCoresAwake::request() {
            Ok(awake) => {
                machine.notes.push(
                    "idle cores poll instead of halting for the run (/dev/cpu_dma_latency held at 0, released at exit): \
                     waking a halted vCPU takes the host"
                        .into(),
                );
                Some(awake)
            }
            Err(e) => {
                machine
                    .notes
                    .push(format!("could not keep idle cores polling ({e}): zero-loss rates include wake-ups"));
                None
            }
        }
    };

    // What the kernel has, probed once on a scratch topology.
    let flower;
    {
        let topo = Topology::up(&format!("{prefix}p0"), &work, Duration::from_secs(120), registry.clone())?;
        flower = targets::probe_tc(&topo, "flower");
        if flower.is_err() {
            machine.lacks.push("tc flower (cls_flower): the tc-flower target is skipped".into());
        }
        if targets::probe_tc(&topo, "gact").is_err() {
            machine
                .lacks
                .push("act_gact: tc u32/flower drop by mirred redirect to a dead-end veth (dead0, peer down)".into());
        }
    }
    if !Path::new("/proc/net/pktgen").exists() {
        machine.lacks.push("pktgen (not loaded/available): the generator is BPF_PROG_RUN live frames".into());
    }
    if !targets::have("dpdk-testpmd") {
        machine.lacks.push("dpdk-testpmd (Debian package dpdk-dev): that target is skipped".into());
    }
    if !ctx.gen_match_rule {
        machine.notes.push(
            "`dataplane gen` has no --match-rule yet: it sends its default flow, which the lab's rule files match"
                .into(),
        );
    }
    machine.notes.push(format!(
        "placements: dedicated = dut0's NAPI threaded on core {DUT_CORE} (SCHED_FIFO for kernel targets; \
         SCHED_OTHER beside the dataplane, whose worker runs SCHED_FIFO and sleeps {} us after an empty poll, \
         and beside testpmd); softirq = dut0's NAPI in the generator's softirq on core {GEN_CORE}",
        ctx.idle_us
    ));
    let runnable = matrix.points.iter().filter(|p| unavailable(&ctx, p, &flower).is_none()).count();
    let bar = ProgressBar::new((runnable * matrix.trials) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} trials, ETA {eta}  {msg}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    let mut runner = Runner {
        ctx: &ctx,
        trials: matrix.trials,
        ndr: matrix.ndr.then_some(args.ndr_loss),
        bar,
        prefix: prefix.clone(),
        seq: 0,
    };
    runner.say(format!(
        "dataplane lab: {} points ({} runnable) x {} trials of {} s; namespaces {prefix}p*; generator and sink on core {GEN_CORE}, device on core {DUT_CORE}",
        matrix.points.len(),
        runnable,
        matrix.trials,
        matrix.seconds
    ));
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut fatal = None;
    for &point in &matrix.points {
        if let Some(reason) = unavailable(&ctx, &point, &flower) {
            rows.push(Row::new(point, Status::Skipped(reason)));
            continue;
        }
        let row = match runner.point(point) {
            Ok(row) => row,
            Err(e) if e.is_fatal() => {
                fatal = Some(e);
                break;
            }
            Err(e) => {
                let mut row = Row::new(point, Status::Failed(e.to_string()));
                row.processed_source = "";
                row
            }
        };
        runner.say(report::one_line(&row));
        rows.push(row);
    }
    runner.bar.finish_and_clear();
    machine.notes.push(format!("the run took {:.0} s", started.elapsed().as_secs_f64()));
    report::attribute_softirq(&mut rows);
    report::write_all(&args.out, &machine, &rows).map_err(|source| Error::Results { dir: args.out.clone(), source })?;
    if args.keep_logs {
        eprintln!("dataplane lab: logs kept in {}", work.display());
    }
    match fatal {
        Some(e) => Err(Error::Stopped { cause: Box::new(e), results: args.out.clone() }),
        None => {
            eprintln!("dataplane lab: wrote {}/report.md, results.csv, results.json and plots", args.out.display());
            Ok(())
        }
    }
}
