//! `dataplane run`: opens the ports, starts one pinned worker per core, prints statistics
//! and stops cleanly on SIGINT/SIGTERM, after `--duration`, or when capture inputs end.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pmd::af_xdp::AfXdpDevice;
use pmd::xdp_prog::Uncovered;
use pmd::{CounterSource, OpenWith, PortCounters, PortSpec, Umems, BURST};
use serde_json::{json, Value};
use traffic::rate::format_pps;
use umem::UmemConfig;

use crate::error::CliError;
use crate::stats_json::{busy_json, drops_json, frame_report_json};
use engine::engines::checked::Checked;
use engine::engines::classified::Classified;
use engine::engines::ForwardingEngine;
use engine::pipeline::classify::ClassifierKind;
use engine::pipeline::{CsumMode, Disposition, Pipeline, RuleTable, SharedRules};
use engine::stats::{DropReason, Snapshot, WorkerStats};
use engine::worker::{Action, PortQueue, Worker};
use traffic::template::UdpTemplate;

/// `dataplane run`'s settings, from its command line.
pub struct RunConfig {
    /// The ports, numbered in this order.
    pub ports: Vec<PortSpec>,
    /// What a worker does with a frame without a rule saying otherwise.
    pub action: Action,
    /// The per-frame processing (walk, checksums, rewrite).
    pub pipeline: Pipeline,
    /// One worker per core; empty: the last core, or with `queues=all` one per queue.
    pub cores: Vec<usize>,
    /// Statistics lines this often (`None`: totals only).
    pub stats_interval: Option<Duration>,
    /// `--stats-json FILE` (`-` for stdout).
    pub stats_json: Option<PathBuf>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// `--idle`: what workers do after an empty poll.
    pub idle: engine::worker::IdlePolicy,
    /// `--rules FILE`: classify every frame; SIGHUP reloads the file.
    pub rules: Option<RulesConfig>,
    /// `--uncovered`: what the XDP program does with frames no socket sees (queues
    /// without a socket, frames outside `steer`). `None`: see [`uncovered_policy`].
    pub uncovered: Option<Uncovered>,
}

/// What the redirect program does with the frames of `device` that no socket sees.
///
/// With `--rules`, such frames would otherwise reach the kernel with no rule applied: on a
/// multi-queue NIC, every RSS queue without a socket bypasses the ACL. So:
/// - `--uncovered drop|pass`: as told.
/// - `--default drop`: XDP_DROP, in the program itself (the rule set's default, which the
///   kernel can apply without classifying).
/// - `--default pass`: `pass` means "as --action says" (forward, reflect), which the XDP
///   program cannot do, and passing to the kernel would skip every drop rule; so if
///   anything is uncovered, `run` refuses to start and names it. If nothing is, the
///   fallback only acts on a socket that vanishes mid-run (a dying worker): XDP_DROP.
/// - without `--rules`: XDP_PASS (no ACL to bypass; SSH and ARP keep working).
pub fn uncovered_policy(
    spec: &pmd::AfXdpSpec,
    queues_without_socket: &[u32],
    rules: Option<&RulesConfig>,
    told: Option<Uncovered>,
) -> Result<Uncovered, String> {
    if let Some(told) = told {
        return Ok(told);
    }
    let Some(rules) = rules else { return Ok(Uncovered::Pass) };
    if rules.default == Disposition::Drop {
        return Ok(Uncovered::Drop);
    }
    let mut what = Vec::new();
    if !queues_without_socket.is_empty() {
        what.push(format!("receive queue(s) {} have no socket", queue_list(queues_without_socket)));
    }
    if !spec.steer.any_of.is_empty() {
        what.push(format!("frames outside steer={} are not steered to the sockets", spec.steer));
    }
    if what.is_empty() {
        // Every frame goes to a socket; the fallback acts only if a socket goes away while
        // the program is attached (a worker dying): then fail closed.
        return Ok(Uncovered::Drop);
    }
    Err(format!(
        "{}: {}: that traffic would reach the kernel with no rule of {} applied. Cover it \
         (queues=0-N, no steer), drop it (--default drop, or --uncovered drop), or let it \
         pass unfiltered on purpose (--uncovered pass)",
        spec.iface,
        what.join(", and "),
        rules.path.display()
    ))
}

/// Each port's interface name ("" for pcap and mem ports): what `mirred ... dev NAME` names.
fn interface_names(ports: &[PortSpec]) -> Vec<String> {
    ports
        .iter()
        .map(|spec| match spec {
            PortSpec::AfXdp(spec) => spec.iface.clone(),
            _ => String::new(),
        })
        .collect()
}

/// Without `--cores`: the last core, or with `queues=all` one worker per queue (the last
/// cores, as many as there are queues and cores); on a machine of several memory nodes,
/// cores of the NIC's node (`numa_node`) where it has any this process may use.
fn default_cores(ports: &[PortSpec], numa_node: Option<u32>) -> Vec<usize> {
    let all = ports.iter().filter(|p| matches!(p, PortSpec::AfXdp(s) if s.all_queues)).map(|p| p.queues().len()).max();
    let mut available = engine::cores::available_cores();
    if let Some(node_cpus) = numa_node.and_then(umem::numa::node_cpus) {
        let on_node: Vec<usize> = available.iter().copied().filter(|core| node_cpus.contains(core)).collect();
        if !on_node.is_empty() {
            available = on_node;
        }
    }
    let Some(queues) = all else { return vec![available.iter().copied().max().unwrap_or(0)] };
    available.sort_unstable_by(|a, b| b.cmp(a));
    available.truncate(queues.max(1));
    available.reverse();
    available
}

/// The memory node of the run's NICs, where placing memory matters: only on a machine of
/// several nodes, the first AF_XDP port whose device names one. Ports on different nodes get
/// a line saying the first one's node is used.
fn nic_numa_node(ports: &[PortSpec]) -> Option<u32> {
    if umem::numa::node_count() < 2 {
        return None;
    }
    let nodes: Vec<(&str, u32)> = ports
        .iter()
        .filter_map(|p| match p {
            PortSpec::AfXdp(s) => pmd::netdev::numa_node(&s.iface).map(|node| (s.iface.as_str(), node)),
            _ => None,
        })
        .collect();
    let &(first_iface, node) = nodes.first()?;
    if let Some((iface, other)) = nodes.iter().find(|(_, n)| *n != node) {
        eprintln!(
            "dataplane: {first_iface} is on NUMA node {node} and {iface} on node {other}: the UMEMs and workers go to              node {node}, and {iface}'s frames cross between the nodes"
        );
    }
    eprintln!("dataplane: {first_iface} is on NUMA node {node}: the UMEMs are placed there");
    Some(node)
}

/// A line for every worker core that is not on the NIC's node.
fn warn_cores_off_node(cores: &[usize], node: u32) {
    let Some(node_cpus) = umem::numa::node_cpus(node) else { return };
    let off: Vec<usize> = cores.iter().copied().filter(|core| !node_cpus.contains(core)).collect();
    if !off.is_empty() {
        eprintln!(
            "dataplane: core(s) {off:?} are not on NUMA node {node} (the NIC's, cores {}): their frames cross              between the nodes",
            umem::numa::format_cpulist(&node_cpus)
        );
    }
}

fn queue_list(queues: &[u32]) -> String {
    queues.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// `--rules`, `--format`, `--default`, `--classifier`.
#[derive(Clone, Debug)]
pub struct RulesConfig {
    /// The rule file.
    pub path: PathBuf,
    /// Its format.
    pub format: rules::Format,
    /// When no rule matches.
    pub default: Disposition,
    /// Which classifier.
    pub classifier: ClassifierKind,
}

impl RulesConfig {
    /// Reads, parses and resolves the file: every error as `file:line:col: message`.
    /// `ports`: each port's interface name ("" for pcap and mem ports), in --port order.
    pub fn load(&self, ports: &[String], workers: usize) -> Result<RuleTable, Vec<String>> {
        let set = crate::rules_cmd::load_checked(&self.path, self.format)?;
        let source = self.path.display().to_string();
        RuleTable::build(set, &source, ports, workers, self.default, self.classifier)
            .map_err(|errors| errors.iter().map(ToString::to_string).collect())
    }
}

/// What a finished run counted.
pub struct RunSummary {
    /// Every counter at the end.
    pub snapshot: Snapshot,
    /// How long the workers ran.
    pub seconds: f64,
}

/// The counters kept outside the worker for one port queue (the kernel's, for AF_XDP).
struct KernelCounters {
    port: usize,
    queue: u32,
    reader: Box<dyn CounterSource>,
}

/// Runs the dataplane `config` describes until `stop` is set, `--duration` ends or every
/// capture input is done; a bad rule file is a [`CliError::File`] with every error.
pub fn run(mut config: RunConfig, stop: Arc<AtomicBool>) -> Result<RunSummary, CliError> {
    if config.ports.is_empty() {
        return Err("give at least one --port, e.g. --port af_xdp:iface=veth0".into());
    }
    // `queues=all`: every receive queue the interface has now. `--csum offload`: UMEMs with
    // room for TX metadata.
    let offload = config.pipeline.csum == CsumMode::Offload;
    for spec in &mut config.ports {
        if let PortSpec::AfXdp(spec) = spec {
            spec.resolve_queues().map_err(|e| e.to_string())?;
            // RX hints only where asked for: nothing in `run` uses them but their counts, and
            // they cost (veth: the worker's ns per frame x3, the receive 0.63x; BENCHMARKS.md
            // "RX hints"). The sink, which takes arrival times from them, keeps `auto`.
            if spec.rx_hints == pmd::RxHintsMode::Auto {
                spec.rx_hints = pmd::RxHintsMode::Off;
            }
            spec.tx_csum_offload = offload;
            if spec.tx_sw_csum && !offload {
                eprintln!("dataplane: {}: tx_sw_csum=1 does nothing without --csum offload", spec.iface);
            }
        }
    }
    let numa_node = nic_numa_node(&config.ports);
    if config.cores.is_empty() {
        config.cores = default_cores(&config.ports, numa_node);
    }
    if let Some(node) = numa_node {
        warn_cores_off_node(&config.cores, node);
    }
    if config.action == Action::Fwd && config.ports.len() != 2 {
        return Err(format!(
            "--action fwd forwards port 0 <-> port 1: give exactly two --port (got {})",
            config.ports.len()
        )
        .into());
    }
    let queue_lists: Vec<Vec<u32>> = config.ports.iter().map(PortSpec::queues).collect();
    if config.action == Action::Fwd && queue_lists[0].len() != queue_lists[1].len() {
        return Err(format!(
            "--action fwd pairs queue i of port 0 with queue i of port 1: both ports need as many queues \
             (port 0 has {}, port 1 has {})",
            queue_lists[0].len(),
            queue_lists[1].len()
        )
        .into());
    }

    // Busy polling: the device's NAPI settings for the run, the originals kept to be put
    // back (see pmd::napi); first whatever a run that was killed left behind.
    let mut napi_tunings = Vec::new();
    let mut seen = Vec::new();
    for spec in config.ports.iter().filter_map(|p| if let PortSpec::AfXdp(s) = p { Some(s) } else { None }) {
        if seen.contains(&spec.iface) || pmd::netdev::mtu(&spec.iface).is_none() {
            continue;
        }
        seen.push(spec.iface.clone());
        let live = match pmd::napi::restore_stale(&spec.iface).map_err(|e| e.to_string())? {
            pmd::napi::Stale::Restored(message) => {
                eprintln!("{message}");
                None
            }
            pmd::napi::Stale::Live(pid) => Some(pid),
            pmd::napi::Stale::None => None,
        };
        let busy_poll =
            config.ports.iter().any(|p| matches!(p, PortSpec::AfXdp(s) if s.iface == spec.iface && s.busy_poll > 0));
        if !busy_poll {
            continue;
        }
        // A virtual device (no bus: veth, ...) keeps its NAPI settings unless busy_poll= was
        // written: its queues have no NAPI ids to busy-poll, and a gro_flush_timeout there
        // would only hold its NAPI back (measured by the lab on veth).
        let physical = std::path::Path::new(&format!("/sys/class/net/{}/device", spec.iface)).exists();
        let asked =
            config.ports.iter().any(|p| matches!(p, PortSpec::AfXdp(s) if s.iface == spec.iface && s.busy_poll_given));
        if !physical && !asked {
            continue;
        }
        if let Some(pid) = live {
            eprintln!(
                "dataplane: {}: another dataplane run (pid {pid}) has changed its NAPI settings; leaving them as they are",
                spec.iface
            );
            continue;
        }
        let values = pmd::napi::NapiValues::BUSY_POLL;
        match pmd::napi::NapiTuning::apply(&spec.iface, values) {
            Ok(tuning) => {
                let was = tuning.original();
                eprintln!(
                    "dataplane: {}: napi_defer_hard_irqs {} -> {}, gro_flush_timeout {} -> {} for the run (put back at \
                     exit; by hand: {})",
                    spec.iface,
                    was.defer_hard_irqs,
                    values.defer_hard_irqs,
                    was.gro_flush_timeout,
                    values.gro_flush_timeout,
                    pmd::napi::restore_commands(&spec.iface, was)
                );
                napi_tunings.push(tuning);
            }
            Err(err) => eprintln!("dataplane: {}: busy polling without the device's NAPI settings: {err}", spec.iface),
        }
    }
    // The NAPI settings go back after the run however it ends (an error, kill -9): a helper
    // process forked now keeps the privilege that needs, as this process drops it after
    // setup. Now: one thread still, and a kill from here on finds the helper there.
    let _napi_restorer = if napi_tunings.is_empty() {
        None
    } else {
        Some(pmd::napi::spawn_restorer(napi_tunings).map_err(|e| e.to_string())?)
    };

    // Interfaces first: a missing interface or a bad queue is reported before anything else.
    // Each program is built with its action for what no socket sees (see uncovered_policy).
    let mut devices: Vec<Option<AfXdpDevice>> = Vec::new();
    for spec in &config.ports {
        devices.push(match spec {
            PortSpec::AfXdp(spec) => {
                // The queue count is known once the device is open; the action does not
                // depend on it (only whether to refuse does), and nothing is attached yet.
                let policy = uncovered_policy(spec, &[], config.rules.as_ref(), config.uncovered)?;
                let device = AfXdpDevice::open_with(spec, policy).map_err(|e| e.to_string())?;
                let missing = device.queues_without_socket();
                uncovered_policy(spec, &missing, config.rules.as_ref(), config.uncovered)?;
                if !missing.is_empty() || !spec.steer.any_of.is_empty() {
                    eprintln!(
                        "dataplane: {}: {}frames outside steer={} get {policy} in the XDP program",
                        spec.iface,
                        if missing.is_empty() {
                            String::new()
                        } else {
                            format!("queue(s) {} have no socket; their frames and ", queue_list(&missing))
                        },
                        spec.steer
                    );
                }
                Some(device)
            }
            _ => None,
        });
    }

    let max_queues = queue_lists.iter().map(Vec::len).max().unwrap_or(1);
    let mut cores = config.cores.clone();
    if cores.len() > max_queues {
        eprintln!(
            "dataplane: {} cores for at most {max_queues} queue(s) per port; using cores {:?}",
            cores.len(),
            &cores[..max_queues]
        );
        cores.truncate(max_queues);
    }

    // Rules before any socket: a bad file is reported and nothing is attached.
    let shared_rules = match &config.rules {
        None => None,
        Some(rules) => {
            let table = rules
                .load(&interface_names(&config.ports), cores.len())
                .map_err(|errors| CliError::file_lines(&errors))?;
            eprintln!(
                "dataplane: {} rules from {} ({} classifier)",
                table.set.len(),
                rules.path.display(),
                table.classifier_name()
            );
            Some(Arc::new(SharedRules::new(table)))
        }
    };
    // Always: SIGHUP's default action would kill the process.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .map_err(|e| format!("registering SIGHUP: {e}"))?;

    let umem_config = UmemConfig { numa_node, ..umem_config_for(&config.ports, cores.len())? };
    let mut pipeline = config.pipeline.clone();
    pipeline.mtu = egress_mtu(&config.ports);
    if pipeline.rewrite.as_ref().is_some_and(|r| r.overhead() > 0) {
        eprintln!(
            "dataplane: encapsulated packets longer than {} bytes (the smallest MTU of the ports) are dropped as \
             mtu_exceeded",
            pipeline.mtu
        );
    }
    let mut workers = Vec::new();
    let mut kernel_counters = Vec::new();
    let mut zerocopy = vec![false; config.ports.len()];
    for (w, &core) in cores.iter().enumerate() {
        let mut umems = Umems::new(umem_config.clone()).map_err(|e| e.to_string())?;
        let mut queues: Vec<PortQueue> = Vec::new();
        let mut placed: Vec<(usize, usize)> = Vec::new(); // (port, queue position)
        for (p, spec) in config.ports.iter().enumerate() {
            // What a mem port's loop starts with: a UDP frame of its size=.
            let preload = match spec {
                PortSpec::Mem(spec) => UdpTemplate { size: spec.size as usize, ..Default::default() }.build(),
                _ => Vec::new(),
            };
            for (j, &queue) in queue_lists[p].iter().enumerate().filter(|(j, _)| j % cores.len() == w) {
                let with = OpenWith { umems: &mut umems, device: devices[p].as_ref(), preload: &preload };
                let port = pmd::open(spec, queue, with).map_err(|e| e.to_string())?;
                if pipeline.csum == CsumMode::Offload && !matches!(spec, PortSpec::AfXdp(_)) && j == 0 && w == 0 {
                    // (An af_xdp queue said how it goes when it opened.)
                    eprintln!(
                        "dataplane: {}: no device to ask for checksums; --csum lco for this port",
                        port.describe()
                    );
                }
                let slot = umems.slot_of(port.umem()).expect("pmd::open takes frames from the worker's UMEMs");
                if let Some(reader) = port.counters() {
                    kernel_counters.push(KernelCounters { port: p, queue, reader });
                }
                zerocopy[p] |= port.zerocopy();
                placed.push((p, j));
                queues.push(PortQueue { port, slot, fwd_to: 0 });
            }
        }
        // `fwd` pairs queue j of port 0 with queue j of port 1 (checked above to exist);
        // other actions never read `fwd_to`.
        for (index, &(port, j)) in placed.iter().enumerate() {
            let peer_port = if port == 0 { 1 } else { 0 };
            queues[index].fwd_to = placed.iter().position(|&(p, k)| p == peer_port && k == j).unwrap_or(index);
        }
        let stats = Arc::new(WorkerStats::new(Some(core), placed.iter().map(|&(p, _)| p).collect()));
        let engine: Box<dyn ForwardingEngine> = match &shared_rules {
            Some(shared) => {
                Box::new(Classified::new(config.action, pipeline.clone(), shared.clone(), w, &stats.queue_ports))
            }
            None => Box::new(Checked::new(config.action, pipeline.clone())),
        };
        workers.push(Worker::new(queues, umems, engine, stats).with_idle(config.idle));
    }

    // Every socket is in its XSK map: now let traffic in.
    for (p, device) in devices.iter_mut().enumerate().filter_map(|(p, d)| d.as_mut().map(|d| (p, d))) {
        let mode = device.attach().map_err(|e| e.to_string())?;
        eprintln!(
            "dataplane: {} attached ({}), AF_XDP {} mode",
            device.name(),
            match mode {
                bpf::XdpMode::Driver => "native XDP",
                bpf::XdpMode::Generic => "generic XDP",
            },
            if zerocopy[p] { "zero-copy" } else { "copy" }
        );
    }
    for (w, worker) in workers.iter().enumerate() {
        let names: Vec<String> = worker.queues.iter().map(|q| q.port.describe()).collect();
        eprintln!("dataplane: worker {w} on core {}: {}", cores[w], names.join(", "));
    }
    if workers.iter().any(|w| w.umems.slots.len() > 1) {
        eprintln!("dataplane: some ports do not share a UMEM: forwarding between them copies frames");
    }

    // Opened before the privileges go: its directory may need them.
    let mut json_out: Option<Box<dyn Write>> = match &config.stats_json {
        None => None,
        Some(path) if path.as_os_str() == "-" => Some(Box::new(io::stdout())),
        Some(path) => {
            Some(Box::new(File::create(path).map_err(|e| CliError::File(format!("{}: {e}", path.display())))?))
        }
    };
    // Setup is over: the data path, the statistics and SIGHUP reloads need no privilege.
    // Before the workers exist, so they start with none (capabilities are per thread).
    let dropped = pmd::caps::drop_all().map_err(|e| format!("dropping capabilities after setup: {e}"))?;
    eprintln!("dataplane: {}", dropped.describe());

    let panic_worker: Option<usize> = std::env::var(engine::worker::PANIC_WORKER_ENV).ok().and_then(|v| v.parse().ok());
    let all_stats: Vec<Arc<WorkerStats>> = workers.iter().map(|w| w.stats.clone()).collect();
    let port_names: Vec<String> = config.ports.iter().map(port_label).collect();
    let mut handles: Vec<Option<std::thread::JoinHandle<()>>> = workers
        .into_iter()
        .enumerate()
        .map(|(w, worker)| {
            let stop = stop.clone();
            let worker = if panic_worker == Some(w) { worker.panic_after_first_burst() } else { worker };
            Some(
                std::thread::Builder::new()
                    .name(format!("worker-{w}"))
                    .spawn(move || worker.run(&stop))
                    .expect("spawning a worker thread"),
            )
        })
        .collect();

    // This thread (stats, rule reloads) must not steal time from a polling worker: a rule
    // build of some milliseconds on a worker's core starves its fill ring. DPDK keeps its
    // main lcore apart from the workers for the same reason.
    match engine::cores::available_cores().into_iter().find(|core| !cores.contains(core)) {
        Some(core) => {
            core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        None if shared_rules.is_some() => {
            eprintln!("dataplane: every core runs a worker: rule reloads will share a worker's core");
        }
        None => {}
    }
    let start = Instant::now();
    // Tables replaced by a reload, until every worker has let go of them.
    let mut retired: Vec<(u64, std::sync::Weak<RuleTable>)> = Vec::new();
    let mut died: Option<String> = None;
    let mut last = (start, Snapshot::take(&all_stats, config.ports.len()));
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let duration_over = config.duration.is_some_and(|d| now - start >= d);
        // A worker that ended on its own either finished its capture input or died.
        for (w, slot) in handles.iter_mut().enumerate() {
            if slot.as_ref().is_some_and(|h| h.is_finished()) {
                if let Err(panic) = slot.take().expect("checked above").join() {
                    died = Some(format!("worker {w} (core {}) panicked: {}", cores[w], panic_message(&*panic)));
                }
            }
        }
        let workers_done = handles.iter().all(Option::is_none);
        if stop.load(Ordering::Relaxed) || duration_over || workers_done || died.is_some() {
            break;
        }
        if reload.swap(false, Ordering::Relaxed) {
            match (&shared_rules, &config.rules) {
                (Some(shared), Some(rules)) => {
                    let old = shared.current();
                    if reload_rules(shared, rules, &interface_names(&config.ports), cores.len()) {
                        retired.push((old.generation, Arc::downgrade(&old)));
                    }
                }
                _ => eprintln!("dataplane: SIGHUP: no --rules file to reload; still running"),
            }
        }
        // An idle worker takes the new table at its next empty poll, so this comes within
        // moments of a reload, traffic or not.
        retired.retain(|(generation, table)| {
            let held = table.strong_count() > 0;
            if !held {
                eprintln!("dataplane: rules of generation {generation} released by every worker");
            }
            held
        });
        if let Some(interval) = config.stats_interval {
            if now - last.0 >= interval {
                let snap = Snapshot::take(&all_stats, config.ports.len());
                let kernel = read_kernel(&kernel_counters);
                let dt = (now - last.0).as_secs_f64();
                eprintln!("{}", human_line(&snap, &last.1, dt, (now - start).as_secs_f64(), &kernel));
                if let Some(out) = &mut json_out {
                    let mut line =
                        stats_json(&snap, &last.1, dt, (now - start).as_secs_f64(), &kernel, &port_names, false);
                    line["rules"] = rules_json(shared_rules.as_deref());
                    writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| format!("--stats-json: {e}"))?;
                }
                last = (now, snap);
            }
        }
    }
    // Programs first, sockets after: once the links are gone the interfaces are as they
    // were found, and no frame meets a program whose XSK map is losing its sockets.
    for device in devices.iter_mut().flatten() {
        device.detach();
    }
    stop.store(true, Ordering::Relaxed);
    for (w, handle) in handles.into_iter().enumerate() {
        if let Some(Err(panic)) = handle.map(std::thread::JoinHandle::join) {
            died.get_or_insert(format!("worker {w} (core {}) panicked: {}", cores[w], panic_message(&*panic)));
        }
    }
    drop(devices);
    if let Some(died) = died {
        let snap = Snapshot::take(&all_stats, config.ports.len());
        eprintln!("{}", totals_line(&snap, start.elapsed().as_secs_f64(), &[]));
        return Err(format!(
            "{died}; every program is detached and the other workers are stopped (the totals above are \
             what the workers did until then)"
        )
        .into());
    }
    let seconds = start.elapsed().as_secs_f64();
    let snap = Snapshot::take(&all_stats, config.ports.len());
    let kernel = read_kernel(&kernel_counters);
    if let Some(out) = &mut json_out {
        let mut line = stats_json(&snap, &Snapshot::default(), seconds, seconds, &kernel, &port_names, true);
        line["rules"] = rules_json(shared_rules.as_deref());
        writeln!(out, "{line}").and_then(|_| out.flush()).map_err(|e| format!("--stats-json: {e}"))?;
    }
    eprintln!("{}", totals_line(&snap, seconds, &kernel));
    if let Some(shared) = &shared_rules {
        eprintln!("{}", rules_line(&shared.current()));
    }
    Ok(RunSummary { snapshot: snap, seconds })
}

/// A panic's message, as the panic hook printed it.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_string(),
        (_, Some(text)) => text.clone(),
        _ => "(a panic without a message)".to_string(),
    }
}

/// SIGHUP: build the new table here, off the data path, and hand it over; a bad file keeps
/// the old rules and every error is logged. True when a new table was published.
fn reload_rules(shared: &SharedRules, rules: &RulesConfig, ports: &[String], workers: usize) -> bool {
    let started = Instant::now();
    match rules.load(ports, workers) {
        Ok(table) => {
            let count = table.set.len();
            let generation = shared.publish(table);
            eprintln!(
                "dataplane: SIGHUP: {count} rules from {} (generation {generation}, built in {:.1} ms)",
                rules.path.display(),
                started.elapsed().as_secs_f64() * 1e3
            );
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            // About the file, so it starts with it, as the errors above do.
            eprintln!(
                "{}: SIGHUP: {} error(s); keeping the rules of generation {}",
                rules.path.display(),
                errors.len(),
                shared.generation()
            );
            return false;
        }
    }
    true
}

/// The `"rules"` object of a stats line: hits per rule of the current table.
fn rules_json(shared: Option<&SharedRules>) -> Value {
    let Some(shared) = shared else { return Value::Null };
    let table = shared.current();
    let (hits, unmatched) = table.hits();
    let per_rule: Vec<Value> = table
        .set
        .rules
        .iter()
        .zip(&hits)
        .enumerate()
        .map(|(index, (rule, hits))| json!({"rule": index, "line": rule.line, "hits": hits}))
        .collect();
    json!({
        "file": table.source,
        "generation": table.generation,
        "classifier": table.classifier_name(),
        "hits": per_rule,
        "no_match": unmatched,
    })
}

fn rules_line(table: &RuleTable) -> String {
    let (hits, unmatched) = table.hits();
    let matched: u64 = hits.iter().sum();
    let busiest: Vec<String> = {
        let mut ranked: Vec<(usize, u64)> = hits.iter().copied().enumerate().filter(|&(_, h)| h > 0).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.iter().take(5).map(|(i, h)| format!("#{i} (line {}) {h}", table.set.rules[*i].line)).collect()
    };
    format!(
        "rules: generation {}, {} rules, matched {matched}, no match {unmatched}{}",
        table.generation,
        table.set.len(),
        if busiest.is_empty() { String::new() } else { format!("; most hits: {}", busiest.join(", ")) }
    )
}

fn port_label(spec: &PortSpec) -> String {
    match spec {
        PortSpec::AfXdp(s) => format!("af_xdp:{}", s.iface),
        PortSpec::Pcap(s) => format!("pcap:{}", s.rx.display()),
        PortSpec::Mem(_) => "mem".to_string(),
    }
}

/// The MTU an encapsulation must fit: the smallest of the ports', since a frame may leave by
/// any of them (reflect, fwd, a rule's fwd). An af_xdp port's is its interface's MTU (from
/// sysfs; 1500 if it cannot be read); pcap and mem ports have none and take Ethernet's 1500.
/// A frame the UMEM cannot hold is refused earlier, as no_room.
fn egress_mtu(ports: &[PortSpec]) -> usize {
    ports
        .iter()
        .map(|spec| match spec {
            PortSpec::AfXdp(s) => pmd::netdev::mtu(&s.iface).map_or(engine::pipeline::DEFAULT_MTU, |mtu| mtu as usize),
            PortSpec::Pcap(_) | PortSpec::Mem(_) => engine::pipeline::DEFAULT_MTU,
        })
        .min()
        .unwrap_or(engine::pipeline::DEFAULT_MTU)
}

/// Enough frames for every ring of every socket a worker opens, plus bursts in hand. Every
/// size comes from the command line, so the sums are checked: a total past `u32` frames (or
/// past what the address space can map) is an error saying which port asked for it.
fn umem_config_for(ports: &[PortSpec], workers: usize) -> Result<UmemConfig, String> {
    let mut frame_size = 2048u32;
    let mut hugepages = false;
    let mut frames = 2 * BURST as u32;
    let too_many = |port: usize| {
        format!("the UMEM for --port {port} and the ports before it would need more than {} frames", u32::MAX)
    };
    for (p, spec) in ports.iter().enumerate() {
        let queues_per_worker = u32::try_from(spec.queues().len().div_ceil(workers.max(1))).map_err(|_| too_many(p))?;
        let per_queue = match spec {
            PortSpec::AfXdp(s) => {
                frame_size = frame_size.max(s.frame_size);
                hugepages |= s.hugepages;
                // fill + rx + tx + completion, all full at once in the worst case.
                s.ring_size.checked_mul(4)
            }
            PortSpec::Mem(s) => s.depth.checked_add(2 * BURST as u32),
            PortSpec::Pcap(_) => Some(4 * BURST as u32),
        };
        frames = per_queue
            .and_then(|n| n.checked_mul(queues_per_worker))
            .and_then(|n| frames.checked_add(n))
            .ok_or_else(|| too_many(p))?;
    }
    let bytes = u64::from(frames) * u64::from(frame_size);
    if usize::try_from(bytes).is_err() || bytes > isize::MAX as u64 {
        return Err(format!("a UMEM of {frames} frames of {frame_size} bytes does not fit this address space"));
    }
    Ok(UmemConfig { frame_size, frame_count: frames, hugepages, numa_node: None })
}

fn read_kernel(counters: &[KernelCounters]) -> Vec<(usize, u32, PortCounters)> {
    counters.iter().filter_map(|k| k.reader.read().ok().map(|s| (k.port, k.queue, s))).collect()
}

fn kernel_sum(kernel: &[(usize, u32, PortCounters)]) -> PortCounters {
    let mut sum = PortCounters::default();
    for (_, _, s) in kernel {
        sum += *s;
    }
    sum
}

fn xdp_json(s: &PortCounters) -> Value {
    json!({
        "rx_dropped": s.rx_dropped,
        "rx_invalid_descs": s.rx_invalid_descs,
        "tx_invalid_descs": s.tx_invalid_descs,
        "rx_ring_full": s.rx_ring_full,
        "rx_fill_ring_empty_descs": s.rx_fill_ring_empty_descs,
        "tx_ring_empty_descs": s.tx_ring_empty_descs,
        // Frames that carried each RX hint (rx_hints devarg); null where hints are off.
        "rx_hints": s.rx_hints.map_or(Value::Null, |h| json!({
            "frames_with_metadata": h.with_metadata,
            "timestamp": h.timestamp,
            "xdp_time": h.xdp_time,
            "hash": h.hash,
            "vlan": h.vlan,
        })),
    })
}

fn nonzero_drops(drops: &[u64; DropReason::COUNT]) -> String {
    let parts: Vec<String> = DropReason::all()
        .filter(|r| drops[r.index()] > 0)
        .map(|r| format!("{} {}", r.name(), drops[r.index()]))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn human_line(
    snap: &Snapshot,
    prev: &Snapshot,
    dt: f64,
    elapsed: f64,
    kernel: &[(usize, u32, PortCounters)],
) -> String {
    let k = kernel_sum(kernel);
    format!(
        "{elapsed:6.1}s  rx {:>11}  tx {:>11} | total rx {} tx {} dropped {}{} | kernel rx_dropped {} rx_ring_full {} fill_empty {}",
        format_pps((snap.rx() - prev.rx()) as f64 / dt),
        format_pps((snap.tx() - prev.tx()) as f64 / dt),
        snap.rx(),
        snap.tx(),
        snap.dropped(),
        nonzero_drops(&snap.drops),
        k.rx_dropped,
        k.rx_ring_full,
        k.rx_fill_ring_empty_descs,
    )
}

fn totals_line(snap: &Snapshot, seconds: f64, kernel: &[(usize, u32, PortCounters)]) -> String {
    let k = kernel_sum(kernel);
    let unaccounted = snap.rx() as i64 - snap.tx() as i64 - snap.dropped() as i64;
    format!(
        "totals: rx {} tx {} dropped {}{} in {seconds:.2} s ({} rx){}; kernel: rx_dropped {} rx_ring_full {} \
         fill_empty {} tx_invalid {}",
        snap.rx(),
        snap.tx(),
        snap.dropped(),
        nonzero_drops(&snap.drops),
        format_pps(snap.rx() as f64 / seconds.max(1e-9)),
        if unaccounted == 0 { String::new() } else { format!(" UNACCOUNTED {unaccounted}") },
        k.rx_dropped,
        k.rx_ring_full,
        k.rx_fill_ring_empty_descs,
        k.tx_invalid_descs,
    )
}

/// One stats JSON line: totals, per port (with the kernel's XDP_STATISTICS per socket), per
/// worker, per drop reason.
fn stats_json(
    snap: &Snapshot,
    prev: &Snapshot,
    dt: f64,
    elapsed: f64,
    kernel: &[(usize, u32, PortCounters)],
    port_names: &[String],
    is_final: bool,
) -> Value {
    let rate = |now: u64, before: u64| (now.saturating_sub(before)) as f64 / dt.max(1e-9);
    let ports: Vec<Value> = snap
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let before = prev.ports.get(i).cloned().unwrap_or_default();
            let sockets: Vec<Value> = kernel
                .iter()
                .filter(|(port, _, _)| *port == i)
                .map(|(_, queue, s)| json!({"queue": queue, "xdp": xdp_json(s)}))
                .collect();
            json!({
                "port": i,
                "name": port_names[i],
                "rx": p.rx_packets, "tx": p.tx_packets,
                "rx_bytes": p.rx_bytes, "tx_bytes": p.tx_bytes,
                "rx_pps": rate(p.rx_packets, before.rx_packets),
                "tx_pps": rate(p.tx_packets, before.tx_packets),
                "bad_desc": p.bad_desc, "bad_completion": p.bad_completion,
                "rx_mb": p.rx_mb, "tx_mb": p.tx_mb,
                "tx_csum_offload": p.tx_csum_offload, "tx_csum_software": p.tx_csum_software,
                "sockets": sockets,
            })
        })
        .collect();
    let workers: Vec<Value> = snap
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            json!({
                "worker": i, "core": w.core, "rx": w.rx_packets, "tx": w.tx_packets,
                "rx_mb": w.rx_mb, "tx_mb": w.tx_mb,
                "drops": drops_json(&w.drops), "busy": busy_json(w),
                "mirrored": w.mirrored, "mirror_failed": w.mirror_failed,
                "tx_csum_offload": w.tx_csum_offload, "tx_csum_software": w.tx_csum_software,
                "frames_at_exit": w.frames_at_exit.as_ref().map_or(Value::Null, frame_report_json),
            })
        })
        .collect();
    json!({
        "final": is_final,
        "seconds": elapsed,
        "interval": dt,
        "totals": {
            "rx": snap.rx(), "tx": snap.tx(), "dropped": snap.dropped(),
            "mirrored": snap.mirrored(), "mirror_failed": snap.mirror_failed(),
            "rx_pps": rate(snap.rx(), prev.rx()), "tx_pps": rate(snap.tx(), prev.tx()),
        },
        "drops": drops_json(&snap.drops),
        "ports": ports,
        "workers": workers,
        "rules": Value::Null,
        "xdp": xdp_json(&kernel_sum(kernel)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> pmd::AfXdpSpec {
        match text.parse::<PortSpec>().unwrap() {
            PortSpec::AfXdp(spec) => spec,
            other => panic!("{other:?}"),
        }
    }

    fn rules(default: Disposition) -> RulesConfig {
        RulesConfig {
            path: "acl.rules".into(),
            format: rules::Format::Native,
            default,
            classifier: ClassifierKind::Fast,
        }
    }

    #[test]
    fn uncovered_traffic_cannot_bypass_the_rules() {
        let all = spec("af_xdp:iface=eth1,queues=0");
        let steered = spec("af_xdp:iface=eth1,steer=udp:4789");
        let (drop, pass) = (rules(Disposition::Drop), rules(Disposition::Pass));
        // Without rules: the kernel gets what the dataplane does not take.
        assert_eq!(uncovered_policy(&steered, &[1, 2], None, None), Ok(Uncovered::Pass));
        // --default drop: dropped in XDP, whatever is uncovered.
        assert_eq!(uncovered_policy(&steered, &[1, 2], Some(&drop), None), Ok(Uncovered::Drop));
        // --default pass: refused, naming what is uncovered and the ways out.
        let err = uncovered_policy(&all, &[1, 3], Some(&pass), None).unwrap_err();
        assert!(err.starts_with("eth1: receive queue(s) 1,3 have no socket"), "{err}");
        assert!(err.contains("--uncovered pass") && err.contains("--default drop"), "{err}");
        let err = uncovered_policy(&steered, &[], Some(&pass), None).unwrap_err();
        assert!(err.contains("frames outside steer=udp:4789"), "{err}");
        // Nothing uncovered: allowed, and a socket that vanishes fails closed.
        assert_eq!(uncovered_policy(&all, &[], Some(&pass), None), Ok(Uncovered::Drop));
        // Told: as told.
        for told in [Uncovered::Pass, Uncovered::Drop] {
            assert_eq!(uncovered_policy(&steered, &[1], Some(&pass), Some(told)), Ok(told));
        }
    }

    fn ports(specs: &[&str]) -> Vec<PortSpec> {
        specs.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn default_cores_come_from_the_nics_node() {
        let one = ports(&["af_xdp:iface=x"]);
        let available = engine::cores::available_cores();
        assert_eq!(default_cores(&one, None), vec![*available.iter().max().unwrap()]);
        // Node 0 holds every core on a one-node machine; a node without usable cores (or
        // none at all) falls back to every core this process may use.
        let node0 = umem::numa::node_cpus(0).unwrap_or_default();
        let chosen = default_cores(&one, Some(0));
        assert!(node0.is_empty() || node0.contains(&chosen[0]), "{chosen:?} not on node 0 {node0:?}");
        assert_eq!(default_cores(&one, Some(999)), default_cores(&one, None));
    }

    #[test]
    fn umem_size_adds_every_ring_and_loop() {
        let config =
            umem_config_for(&ports(&["af_xdp:iface=x,queues=0-1,ring=1024", "mem:depth=100,preload=10"]), 1).unwrap();
        let burst = BURST as u32;
        assert_eq!(config.frame_count, 2 * burst + 2 * 4 * 1024 + 100 + 2 * burst);
        assert_eq!(config.frame_size, 2048);
    }

    #[test]
    fn umem_size_past_u32_frames_is_an_error_naming_the_port() {
        // 1024 queues x 4 rings x 16384 frames = 2^26 per port: 64 such ports pass 2^32.
        let spec = "af_xdp:iface=x,queues=0-1023,ring=16384";
        let many: Vec<&str> = std::iter::repeat_n(spec, 64).collect();
        let err = umem_config_for(&ports(&many), 1).unwrap_err();
        assert!(err.contains("--port 63") && err.contains("more than 4294967295 frames"), "{err}");
        // Spread over workers, the same ports fit.
        assert!(umem_config_for(&ports(&many), 1024).is_ok());
    }
}
