//! Each target set up on a fresh topology, then measured trial by trial: the generator on
//! core 0 for a few seconds, the device on core 1, the sink on core 0; counters read before
//! and after.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, ProcessEvent};
use crate::measure::{self, CpuTimes};
use crate::model::{Action, CpuUse, Match, Placement, Point, Target, Traffic, Trial, DUT_CORE, GEN_CORE, NICENESS};
use crate::private;
use crate::registry::Registry;
use crate::topo::{self, nap, run_checked, Proc, Topology};

/// What every trial of a run needs.
pub struct Ctx {
    /// The `dataplane` binary (this one).
    pub bin: PathBuf,
    /// Set by Ctrl-C or SIGTERM: every wait ends with [`Error::Interrupted`].
    pub stop: Arc<AtomicBool>,
    /// Per-trial logs and rule files.
    pub work: PathBuf,
    /// Seconds of traffic of each trial at maximum load.
    pub seconds: f64,
    /// Seconds of each zero-loss search trial.
    pub ndr_seconds: f64,
    /// `dataplane gen` has the vxlan template.
    pub gen_vxlan: bool,
    /// `dataplane gen` has `--match-rule`.
    pub gen_match_rule: bool,
    /// The dataplane worker's sleep after an empty poll in the dedicated placement.
    pub idle_us: u64,
    /// testpmd's `--file-prefix`.
    pub dpdk_prefix: String,
    /// This run's state file (namespace holders and NAPI threads are recorded there).
    pub registry: Arc<Registry>,
    /// How long one point can take at most: its topology's holders live no longer.
    pub point_limit: Duration,
    /// Test hook: this target fails in the middle of its first trial (everything running);
    /// with `true` the whole lab fails there.
    pub inject: Option<(Target, bool)>,
}

/// The generator's flow (its defaults): the rule that matches it.
const FLOW: &str = "src_ip 198.18.0.1 dst_ip 198.19.0.1 src_port 1024 dst_port 9";
const NICE: [&str; 2] = ["-n", NICENESS];

/// How long the lab waits for a process target to be ready, and for the generator past its
/// own duration.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// What a child started for one trial gets as its own time limit beyond the trial's seconds
/// (`--duration`, or the CPU limit of testpmd, which has none): more than the lab's own
/// waits around a trial (start-up, the generator's slack, the drain), so a running lab always
/// stops it first, and a child orphaned by a lab killed before its death signal was set
/// still stops by itself.
pub const CHILD_SLACK_S: f64 = 2.0 * 30.0 + 15.0;

/// Writes a rule file of `n` rules where exactly one, the first or the last, matches the
/// generator's flow; the others differ from it only in the destination address, so every
/// classifier has to look at each of them. Returns the path and the matching rule's index.
/// The file is new (`tag` makes its name unique in the run's private directory).
pub fn rule_file(dir: &Path, tag: &str, n: usize, matching: Match, action: Action) -> Result<(PathBuf, usize), Error> {
    let n = n.max(1);
    let verb = match action {
        Action::Drop => "drop",
        Action::Fwd => "fwd 1",
    };
    let hit = match matching {
        Match::First => 0,
        Match::Last => n - 1,
    };
    let mut text = format!("# dataplane lab: {n} rules, rule {hit} (0-based) matches the generator's flow\n");
    let mut other = 0usize;
    for index in 0..n {
        if index == hit {
            text.push_str(&format!("protocol ip ip_proto udp {FLOW} action {verb}\n"));
        } else {
            // 10.H.L.1: distinct, never the generator's destination.
            text.push_str(&format!(
                "protocol ip ip_proto udp src_ip 198.18.0.1 dst_ip 10.{}.{}.1 src_port 1024 dst_port 9 action {verb}\n",
                other / 256 % 256,
                other % 256
            ));
            other += 1;
        }
    }
    let path = dir.join(format!("{tag}-rules-{n}-{}-{}.rules", matching.name(), action.name()));
    private::write_file(&path, text.as_bytes())?;
    Ok((path, hit))
}

/// A target set up on a topology, ready for trials.
pub struct Dut<'a> {
    /// What is measured.
    pub point: Point,
    /// The fresh topology it runs on.
    pub topo: &'a Topology,
    /// Its rule file.
    pub rules: PathBuf,
    /// The index of the rule the generator's frames match.
    pub hit: usize,
    /// The ingress NAPI threads (dut0), if threaded, and the sink's (sink0).
    pub napi: Vec<u32>,
    /// The sink's NAPI threads (sink0), if threaded.
    pub sink_napi: Vec<u32>,
    /// Where the processed count comes from, for the report.
    pub processed_source: &'static str,
    /// What `rules compile` said about the rules (e.g. keys a target reads differently).
    pub notes: Vec<String>,
}

impl<'a> Dut<'a> {
    /// Loads the rules into a kernel target with `dataplane rules compile`; nothing to do
    /// for the process targets, which start per trial.
    pub fn setup(
        ctx: &Ctx,
        topo: &'a Topology,
        point: Point,
        napi: Vec<u32>,
        sink_napi: Vec<u32>,
    ) -> Result<Dut<'a>, Error> {
        let (rules, hit) = rule_file(&ctx.work, &topo.prefix, point.rules, point.matching, point.action)?;
        let processed_source = match point.target {
            Target::Dataplane => "dataplane --stats-json totals.rx",
            Target::DpdkTestpmd => "testpmd accumulated RX-packets",
            Target::Xdp => "veth rx_queue_*_xdp_packets (ethtool -S dut0)",
            _ => "clsact qdisc packets (tc -s qdisc show dev dut0)",
        };
        let mut dut = Dut { point, topo, rules, hit, napi, sink_napi, processed_source, notes: Vec::new() };
        if point.target.is_kernel() {
            dut.compile(ctx)?;
        }
        Ok(dut)
    }

    /// Loads the rules; keeps what the compiler noted in `notes`.
    fn compile(&mut self, ctx: &Ctx) -> Result<(), Error> {
        let target = self.point.target.name();
        let mut cmd = self.topo.exec("dut", &ctx.bin.display().to_string());
        cmd.args(["rules", "compile"]).arg(&self.rules);
        cmd.args(["--to", target, "--dev", "dut0", "--port-dev", "dut0", "--port-dev", "dut1"]);
        // The 2016 study's drop: redirect to a dead end. tc u32 and flower need it where
        // the kernel has no act_gact; the BPF targets drop natively (TC_ACT_SHOT, XDP_DROP).
        if self.point.action == Action::Drop && matches!(self.point.target, Target::TcU32 | Target::TcFlower) {
            cmd.args(["--drop-dev", "dead0"]);
        }
        let out = run_checked(&mut cmd, &format!("dataplane rules compile --to {target}"))?;
        let batch = String::from_utf8_lossy(&out.stdout).to_string();
        let is_batch = batch.lines().any(|l| l.starts_with("filter ") || l.starts_with("qdisc "));
        // The tc targets print a `tc -b` batch; apply it unless the compiler already did.
        if is_batch && !self.has_tc_filters()? {
            let path = self.rules.with_extension(format!("{target}.tc"));
            private::write_file(&path, batch.as_bytes())?;
            run_checked(self.topo.exec("dut", "tc").arg("-b").arg(&path), &format!("tc -b ({target})"))?;
        }
        let loaded = match self.point.target {
            Target::Xdp => self.topo.xdp_attached("dut", "dut0"),
            _ => self.has_tc_filters()?,
        };
        if !loaded {
            return Err(Error::NotAttached { target: self.point.target, dev: "dut0" });
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.notes = stderr.lines().filter_map(|l| l.trim().strip_prefix("note: ")).map(str::to_string).collect();
        Ok(())
    }

    fn has_tc_filters(&self) -> Result<bool, Error> {
        let out = self.topo.exec("dut", "tc").args(["filter", "show", "dev", "dut0", "ingress"]).output();
        Ok(out.map(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty()).unwrap_or(false))
    }

    /// The kernel target's cumulative processed count.
    fn kernel_processed(&self) -> Result<u64, Error> {
        if self.point.target == Target::Xdp {
            let out = run_checked(self.topo.exec("dut", "ethtool").args(["-S", "dut0"]), "ethtool -S dut0")?;
            measure::ethtool_sum(&String::from_utf8_lossy(&out.stdout), "_xdp_packets")
                .ok_or(Error::NoCounter { what: "ethtool -S dut0 has no rx_queue_N_xdp_packets" })
        } else {
            let out = run_checked(
                self.topo.exec("dut", "tc").args(["-s", "-j", "qdisc", "show", "dev", "dut0"]),
                "tc -s qdisc show dev dut0",
            )?;
            measure::clsact_packets(&String::from_utf8_lossy(&out.stdout))
                .ok_or(Error::NoCounter { what: "no clsact qdisc on dut0" })
        }
    }

    /// Starts the process target for one trial and waits until it receives.
    fn start_process(&self, ctx: &Ctx, tag: &str, seconds: f64) -> Result<(Proc, PathBuf), Error> {
        let log = ctx.work.join(format!("{tag}-dut.log"));
        let stats = ctx.work.join(format!("{tag}-stats.jsonl"));
        let fwd = self.point.action == Action::Fwd;
        let dedicated = self.point.placement == Placement::Dedicated;
        let mut cmd = self.topo.exec("dut", "nice");
        cmd.args(NICE);
        if dedicated && self.point.target == Target::Dataplane {
            // The worker shares core 1 with dut0's NAPI thread: SCHED_FIFO, so it runs
            // whenever it has frames, and a sleep after every empty poll, in which the NAPI
            // thread fills the rx ring (docs/lab.md, "Placement").
            cmd.args(["chrt", "-f", "50"]);
        }
        cmd.args(["taskset", "-c", &DUT_CORE.to_string()]);
        let pattern = match self.point.target {
            Target::Dataplane => {
                // No RX hints: the kernel targets read none, so the comparison stays like for
                // like (on veth they would add the kfunc calls and a clock read per frame).
                cmd.arg(&ctx.bin).args(["run", "--port", "af_xdp:iface=dut0,rx_hints=0"]);
                cmd.args(["--duration", &format!("{:.3}", seconds + CHILD_SLACK_S)]);
                if dedicated {
                    cmd.args(["--idle", &format!("sleep:{}", ctx.idle_us)]);
                }
                if fwd {
                    cmd.args(["--port", "af_xdp:iface=dut1,rx_hints=0"]);
                }
                cmd.args(["--action", self.point.action.name(), "--cores", &DUT_CORE.to_string()]);
                cmd.args(["--stats-interval", "0", "--stats-json"]).arg(&stats);
                cmd.arg("--rules").arg(&self.rules).args(["--default", "drop"]);
                if self.point.traffic == Traffic::Vxlan {
                    cmd.args(["--csum", "verify"]);
                }
                None
            }
            Target::DpdkTestpmd => {
                // design.md section 5 and docs/veth-bench-notes.md: both lcores on the
                // device's core, no hugepages, no shared files, a prefix of our own;
                // --stats-period keeps a non-interactive testpmd running. busy_budget=0 is
                // its best setting on veth in both placements (8.28 against 4.87 Mpps rxonly
                // in softirq, design.md section 6): veth registers no NAPI id, so preferred
                // busy polling only costs syscalls, and beside a threaded NAPI it starves it.
                let busy = ",busy_budget=0";
                // testpmd has no duration: a CPU-time limit (it polls, so about its wall
                // time) ends an orphan, SIGXCPU at the soft limit, SIGKILL at the hard one.
                let cpu = (seconds + CHILD_SLACK_S).ceil() as u64;
                cmd.args(["prlimit", &format!("--cpu={cpu}:{}", cpu + 5), "--"]);
                cmd.args(["stdbuf", "-oL", "-eL", "dpdk-testpmd", "--lcores", "0@1,1@1", "--main-lcore", "0"]);
                cmd.args(["--no-pci", "--no-huge", "-m", "1024", "--no-shconf", "--file-prefix", &ctx.dpdk_prefix]);
                cmd.args(["--vdev", &format!("net_af_xdp0,iface=dut0{busy}")]);
                cmd.args(["--vdev", &format!("net_af_xdp1,iface=dut1{busy}")]);
                cmd.args([
                    "--",
                    "--forward-mode=io",
                    "--auto-start",
                    "--stats-period",
                    "1",
                    "--total-num-mbufs",
                    "16384",
                ]);
                Some("forwards packets")
            }
            other => return Err(Error::NotProcessTarget { target: other }),
        };
        let mut proc = Proc::spawn(self.point.target.name(), &mut cmd, &log)?;
        let end = Instant::now() + READY_LIMIT;
        loop {
            topo::check_stop(&ctx.stop)?;
            if !proc.alive() {
                return Err(process_error(self.point.target.name(), ProcessEvent::ExitedAtStart, &proc));
            }
            let attached = self.topo.xdp_attached("dut", "dut0") && (!fwd || self.topo.xdp_attached("dut", "dut1"));
            if attached && pattern.is_none_or(|p| proc.log_text().contains(p)) {
                break;
            }
            if Instant::now() > end {
                let event = ProcessEvent::NotReady { seconds: READY_LIMIT.as_secs() };
                return Err(process_error(self.point.target.name(), event, &proc));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The XSK map entry is written after the program is attached.
        nap(Duration::from_millis(500), &ctx.stop)?;
        Ok((proc, stats))
    }

    /// One trial of `seconds` of traffic at `load`.
    pub fn trial(&self, ctx: &Ctx, tag: &str, load: Load, seconds: f64) -> Result<Trial, Error> {
        let topo = self.topo;
        let fwd = self.point.action == Action::Fwd;
        let mut process =
            if self.point.target.is_kernel() { None } else { Some(self.start_process(ctx, tag, seconds)?) };
        let mut sink = if fwd {
            let log = ctx.work.join(format!("{tag}-sink.log"));
            let mut cmd = topo.exec("sink", "nice");
            cmd.args(NICE)
                .args(["taskset", "-c", &GEN_CORE.to_string()])
                .arg(&ctx.bin)
                .args(["sink", "--iface", "sink0", "--json"])
                .args(["--duration", &format!("{:.3}", seconds + CHILD_SLACK_S)]);
            let mut sink = Proc::spawn("sink", &mut cmd, &log)?;
            let end = Instant::now() + Duration::from_secs(10);
            while !sink.log_text().contains("counting on") {
                topo::check_stop(&ctx.stop)?;
                if !sink.alive() || Instant::now() > end {
                    return Err(process_error("the sink", ProcessEvent::DidNotStart, &sink));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(sink)
        } else {
            None
        };

        let kernel_before = if self.point.target.is_kernel() { Some(self.kernel_processed()?) } else { None };
        let arrived_before = topo.counter("dut", "dut0", "rx_packets")?;
        let process_pid = process.as_ref().and_then(|(p, _)| p.pid());
        let sink_pid = sink.as_ref().and_then(|s| s.pid());
        let clocks_before = self.clocks(process_pid, sink_pid);
        let cpu_before = measure::read_proc_stat();

        let gen_log = ctx.work.join(format!("{tag}-gen.log"));
        let mut cmd = topo.exec("gen", "nice");
        cmd.args(NICE)
            .args(["taskset", "-c", &GEN_CORE.to_string()])
            .arg(&ctx.bin)
            .args(["gen", "--iface", "gen0", "--engine", "live"]);
        cmd.args(["--size", &(self.point.size.saturating_sub(4)).to_string()]);
        cmd.args(["--duration", &format!("{seconds:.3}"), "--core", &GEN_CORE.to_string(), "--json"]);
        if self.point.traffic == Traffic::Vxlan {
            cmd.args(["--template", "vxlan"]);
        }
        if ctx.gen_match_rule {
            cmd.arg("--rules").arg(&self.rules).args(["--match-rule", &self.hit.to_string()]);
        }
        let (asked, burst) = match load {
            Load::Max => (None, None),
            Load::Paced { rate, burst } => {
                cmd.args(["--rate", &format!("{rate:.0}")]);
                if let Some(burst) = burst {
                    cmd.args(["--burst", &burst.to_string()]);
                }
                (Some(rate), burst)
            }
        };
        let mut gen = Proc::spawn("generator", &mut cmd, &gen_log)?;
        let status = gen.wait_exit(Duration::from_secs_f64(seconds) + READY_LIMIT, &ctx.stop)?;
        let cpu_after = measure::read_proc_stat();
        let clocks_after = self.clocks(process_pid, sink_pid);
        if let Some((target, abort)) = ctx.inject {
            if target == self.point.target {
                return Err(Error::Injected { abort });
            }
        }
        let napi_after: Vec<_> = self.napi.iter().filter_map(|&p| measure::read_task(p)).collect();
        let gen_text = gen.log_text();
        let generator =
            |event| Error::Process { name: "the generator".into(), event, log_tail: topo::last_lines(&gen_text, 3) };
        if !status.success() {
            return Err(generator(ProcessEvent::Failed(status)));
        }
        let gen_field = |name: &str| measure::json_last(&gen_text, name, false);
        let sent = gen_field("sent").and_then(|v| v.as_u64());
        let gen_seconds = gen_field("seconds").and_then(|v| v.as_f64());
        let (Some(sent), Some(gen_seconds)) = (sent, gen_seconds) else {
            return Err(generator(ProcessEvent::NoResult));
        };
        if gen_seconds <= 0.0 {
            return Err(Error::ZeroSeconds);
        }
        let generated = gen_field("generated").and_then(|v| v.as_u64()).unwrap_or(sent);
        // Offered: every frame gen0's XDP transmit handed to dut0's receive ring, taken or
        // refused for want of room. A refused frame is the device's loss (its ring was full:
        // a NIC counts that as rx_missed), so it was offered; frames a generator's call was
        // asked for but never made are not.
        let xmit_errors = gen_field("xmit_errors").and_then(|v| v.as_u64());
        let gen_src = gen_field("offered_src").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let (sent, offered_src) = match xmit_errors {
            Some(refused) if gen_src == "veth-xdp-xmit" => {
                (sent + refused, "gen0 veth XDP transmits: taken by dut0's ring + refused by it (full)".to_string())
            }
            _ => (sent, format!("the generator's sent count ({gen_src})")),
        };
        let gen_cpu_ns = gen_field("cpu_ns").and_then(|v| v.as_f64());
        // Let the device drain its rings before the counts are read.
        nap(Duration::from_millis(300), &ctx.stop)?;
        let arrived = topo.counter("dut", "dut0", "rx_packets")?.saturating_sub(arrived_before);
        let mut processed = match kernel_before {
            Some(before) => Some(self.kernel_processed()?.saturating_sub(before)),
            None => None,
        };
        let (mut delivered, mut lost, mut p50, mut p99) = (None, None, None, None);
        if let Some(sink) = sink.as_mut() {
            sink.interrupt(Duration::from_secs(5))?;
            let text = sink.log_text();
            let field = |path: &str| measure::json_last(&text, path, false);
            delivered = Some(field("packets").and_then(|v| v.as_u64()).ok_or_else(|| Error::Process {
                name: "the sink".into(),
                event: ProcessEvent::NoCount,
                log_tail: topo::last_lines(&text, 3),
            })?);
            lost = field("lost").and_then(|v| v.as_u64());
            p50 = field("latency_ns.p50").and_then(|v| v.as_f64());
            p99 = field("latency_ns.p99").and_then(|v| v.as_f64());
        }
        let (mut worker_ns, mut worker_batch) = (None, None);
        if let Some((proc, stats)) = process.as_mut() {
            if !proc.alive() {
                return Err(process_error(self.point.target.name(), ProcessEvent::Died, proc));
            }
            proc.interrupt(Duration::from_secs(10))?;
            processed = match self.point.target {
                Target::Dataplane => {
                    let text = std::fs::read_to_string(&*stats).unwrap_or_default();
                    worker_ns = measure::json_last(&text, "workers", true)
                        .and_then(|w| w.get(0)?.get("busy")?.get("ns_per_frame")?.as_f64());
                    worker_batch = measure::json_last(&text, "workers", true)
                        .and_then(|w| w.get(0)?.get("busy")?.get("frames_per_busy_poll")?.as_f64());
                    measure::json_last(&text, "totals.rx", true).and_then(|v| v.as_u64())
                }
                _ => measure::testpmd_total(&proc.log_text(), "RX"),
            };
            if processed.is_none() {
                return Err(process_error(self.point.target.name(), ProcessEvent::NoProcessedCount, proc));
            }
        }
        let processed = processed.unwrap_or(0);

        let cpus: Vec<CpuTimes> = cpu_after.iter().zip(&cpu_before).map(|(a, b)| a.since(b)).collect();
        let core = |i: usize| cpus.get(i).copied().unwrap_or_default();
        let mut cpu = clocks_after.since(&clocks_before);
        if let Some(ns) = gen_cpu_ns {
            cpu.gen_ns = ns;
        }
        let window = cpu.window_ns;
        let napi_ns = cpu.napi_ns;
        // Everything the device did, by the scheduler's clock. Dedicated: its process, its
        // NAPI thread and what core 1's ksoftirqd ran, all on core 1. Softirq: its receive
        // half ran in the generator's context on core 0 and is attributed afterwards
        // (report::attribute_softirq), against the generator's own cost per frame.
        let dut_all = cpu.process_ns + napi_ns + cpu.ksoftirqd_ns[DUT_CORE];
        let (dut_ns_per_pkt, dut_core0_share) = match self.point.placement {
            Placement::Dedicated if processed > 0 => (
                Some(dut_all / processed as f64),
                Some(if dut_all > 0.0 { cpu.process_core0_ns / dut_all } else { 0.0 }),
            ),
            _ => (None, None),
        };
        Ok(Trial {
            seconds: gen_seconds,
            offered_pps: sent as f64 / gen_seconds,
            offered_src,
            generated_pps: generated as f64 / gen_seconds,
            arrived_pps: arrived as f64 / gen_seconds,
            processed_pps: processed as f64 / gen_seconds,
            delivered_pps: delivered.unwrap_or(0) as f64 / gen_seconds,
            asked_pps: asked,
            burst,
            dut_cpu_ns_per_pkt: (processed > 0).then(|| core(DUT_CORE).busy_ns() / processed as f64),
            dut_ns_per_pkt,
            dut_core0_share,
            core_busy: [0, 1].map(|i| if window > 0.0 { (cpu.core_busy_ns[i] / window).clamp(0.0, 1.0) } else { 0.0 }),
            core_softirq: [0, 1].map(|i| {
                let c = core(i);
                if c.total > 0 {
                    c.softirq as f64 / c.total as f64
                } else {
                    0.0
                }
            }),
            napi_busy: (!napi_after.is_empty() && window > 0.0).then(|| napi_ns / window),
            napi_cpu: napi_after.first().and_then(|t| t.last_cpu),
            cpu,
            lost,
            latency_p50_ns: p50,
            latency_p99_ns: p99,
            worker_ns_per_frame: worker_ns,
            worker_frames_per_poll: worker_batch,
        })
    }

    /// The scheduler's clocks of everything that takes part, at one instant.
    fn clocks(&self, process: Option<u32>, sink: Option<u32>) -> Clocks {
        let sum = |pids: &[u32]| pids.iter().filter_map(|&p| measure::thread_ns(p)).sum::<u64>() as f64;
        let process_split = process.and_then(|p| measure::process_ns_by_core(p, GEN_CORE)).unwrap_or((0, 0));
        let process_split = (process_split.0, process_split.0 + process_split.1);
        Clocks {
            at: Instant::now(),
            idle_ns: measure::idle_ns(),
            process_ns: process_split.1 as f64,
            process_core0_ns: process_split.0 as f64,
            napi_ns: sum(&self.napi),
            ksoftirqd_ns: [GEN_CORE, DUT_CORE]
                .map(|c| measure::kthread(&format!("ksoftirqd/{c}")).and_then(measure::thread_ns).unwrap_or(0) as f64),
            sink_ns: sum(&self.sink_napi) + sink.and_then(measure::process_ns).unwrap_or(0) as f64,
        }
    }
}

/// `event` of the process `name`, with the end of its log.
fn process_error(name: &str, event: ProcessEvent, proc: &Proc) -> Error {
    Error::Process { name: name.to_string(), event, log_tail: proc.log_tail() }
}

/// What the generator offers in a trial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Load {
    /// As fast as it goes.
    Max,
    /// Paced at `rate` frames per second, smoothly or in bursts of `burst` frames.
    Paced {
        /// Frames per second.
        rate: f64,
        /// Frames per burst (`None`: evenly spaced).
        burst: Option<u32>,
    },
}

/// A reading of the clocks [`Dut::clocks`] takes.
struct Clocks {
    at: Instant,
    idle_ns: Vec<f64>,
    process_ns: f64,
    process_core0_ns: f64,
    napi_ns: f64,
    ksoftirqd_ns: [f64; 2],
    sink_ns: f64,
}

impl Clocks {
    fn since(&self, before: &Clocks) -> CpuUse {
        let window_ns = (self.at - before.at).as_nanos() as f64;
        let idle =
            |c: usize| self.idle_ns.get(c).copied().unwrap_or(0.0) - before.idle_ns.get(c).copied().unwrap_or(0.0);
        CpuUse {
            window_ns,
            core_busy_ns: [0, 1].map(|c| (window_ns - idle(c)).max(0.0)),
            gen_ns: 0.0,
            process_ns: self.process_ns - before.process_ns,
            process_core0_ns: self.process_core0_ns - before.process_core0_ns,
            napi_ns: self.napi_ns - before.napi_ns,
            ksoftirqd_ns: [0, 1].map(|c| self.ksoftirqd_ns[c] - before.ksoftirqd_ns[c]),
            sink_ns: self.sink_ns - before.sink_ns,
        }
    }
}

/// Probes whether the kernel has a tc feature, on dut0 of a scratch topology: a flower
/// filter, or a gact action.
pub fn probe_tc(topo: &Topology, what: &str) -> Result<(), Error> {
    let mut add = topo.exec("dut", "tc");
    add.args(["filter", "add", "dev", "dead0", "ingress", "protocol", "ip", "prio", "1"]);
    match what {
        "flower" => add.args(["flower", "ip_proto", "udp"]),
        _ => add.args(["u32", "match", "u32", "0", "0", "action", "gact", "pass"]),
    };
    let _ = topo.exec("dut", "tc").args(["qdisc", "add", "dev", "dead0", "clsact"]).output();
    let result = run_checked(&mut add, &format!("tc filter add ... {what}")).map(drop);
    let _ = topo.exec("dut", "tc").args(["qdisc", "del", "dev", "dead0", "clsact"]).output();
    result
}

/// Whether a program is on the PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
