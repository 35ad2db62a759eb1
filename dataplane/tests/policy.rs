//! Policy, attach and privileges (issue 12): a dying worker stops `run`, SIGHUP is always
//! handled, idle workers let go of old rule tables, traffic no socket sees cannot bypass the
//! rules, `rules compile --to xdp` swaps programs without a window, `run` gives up its
//! capabilities, and `sink` leaves addressed interfaces alone.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{last_json, require_root, text, Lab, LabDataplane, TempDir, DATAPLANE};

/// The tests that send traffic take turns: two of them at once on two cores would starve
/// each other's workers.
fn traffic_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running `dataplane` whose stderr is read as it comes, so a test can wait for a
/// message instead of sleeping. Killed when dropped.
struct Running {
    child: Child,
    what: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn spawn(mut cmd: Command, what: &str) -> Running {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {what}: {e}"));
        let pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Running { child, what: what.to_string(), stderr, reader: Some(reader) }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits until stderr contains `needle`; panics with what it printed after `timeout`,
    /// or once the process has exited without printing it.
    fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if self.stderr().contains(needle) {
                return;
            }
            if let Some(status) = self.exited() {
                // The pipe is closed: the reader has every line once it ends.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                assert!(
                    self.stderr().contains(needle),
                    "exited ({status}) before printing `{needle}`:\n{}",
                    self.stderr()
                );
                return;
            }
            assert!(start.elapsed() < timeout, "{}: no `{needle}` within {timeout:?}:\n{}", self.what, self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: i32) {
        // `ip netns exec` execs the program, so the pid is the dataplane's own.
        common::kill(self.child.id(), signal);
    }

    fn running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Waits for the exit (after `signal`, unless 0); returns the status and all of stderr.
    fn finish(mut self, signal: i32, timeout: Duration) -> (ExitStatus, String) {
        if signal != 0 {
            self.signal(signal);
        }
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            assert!(start.elapsed() < timeout, "{} did not exit within {timeout:?}:\n{}", self.what, self.stderr());
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.stderr())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dataplane(args: &[&str]) -> Command {
    let mut cmd = Command::new(DATAPLANE);
    cmd.args(args);
    cmd
}

/// A network namespace of its own with one veth pair `qa` <-> `qb` (2 transmit and 2
/// receive queues each), IPv6 off inside it so nothing but the test's frames flows, and
/// optionally a bpffs for pins (outside /sys, so `ip netns exec` children see it). All
/// removed on drop.
struct Netns {
    netns: testkit::Netns,
    pins: Option<PathBuf>,
}

impl Netns {
    fn up(tag: &str, ipv6: bool, pins: bool) -> Netns {
        let netns = testkit::Netns::new(&format!("dpp{tag}"));
        if !ipv6 {
            netns.disable_ipv6();
        }
        netns.add_veth_pair("qa", "qb", 2);
        let mut netns = Netns { netns, pins: None };
        if pins {
            let dir = std::env::temp_dir().join(testkit::unique_name(&format!("dataplane-policy-pins-{tag}-")));
            std::fs::create_dir_all(&dir).unwrap();
            netns.ok(Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&dir));
            netns.pins = Some(dir);
        }
        netns
    }

    fn ok(&self, cmd: &mut Command) {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
    }

    fn ip(&self, args: &[&str]) {
        self.netns.ip(args);
    }

    fn exec(&self, program: &str, args: &[&str]) -> Command {
        self.netns.command(program, args)
    }

    fn dataplane(&self, args: &[&str]) -> Command {
        self.exec(DATAPLANE, args)
    }

    fn counter(&self, dev: &str, name: &str) -> u64 {
        self.netns.ethtool_counter(dev, name)
    }

    fn wait_counter(&self, dev: &str, name: &str, at_least: u64, timeout: Duration) -> u64 {
        self.netns.wait_ethtool_counter(dev, name, at_least, timeout)
    }

    fn xdp_prog_id(&self, dev: &str) -> Option<u32> {
        let details = self.netns.link_details(dev);
        let after = details.split("prog/xdp id ").nth(1)?;
        after.split_whitespace().next()?.parse().ok()
    }

    fn wait_no_xdp(&self, dev: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.xdp_prog_id(dev).is_none() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(pins) = &self.pins {
            let _ = Command::new("umount").arg(pins).output();
            let _ = std::fs::remove_dir(pins);
        }
    }
}

// ---- dying workers ----

#[test]
fn a_worker_that_panics_stops_run_with_an_error() {
    // A mem port: frames from the first poll on, no root needed.
    let out: Output = dataplane(&["run", "--port", "mem:preload=64", "--action", "drop", "--cores", "0"])
        .env(engine::worker::PANIC_WORKER_ENV, "0")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("worker 0 (core 0) panicked: injected by DATAPLANE_TEST_PANIC_WORKER"), "{stderr}");
    assert!(stderr.contains("every program is detached and the other workers are stopped"), "{stderr}");
}

#[test]
fn a_panicking_af_xdp_worker_exits_non_zero_and_leaves_nothing_attached() {
    if !require_root("a_panicking_af_xdp_worker_exits_non_zero_and_leaves_nothing_attached") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("p");
    let mut cmd = lab.dataplane(
        "dut",
        &["run", "--port", "af_xdp:iface=dut0", "--port", "af_xdp:iface=dut1", "--cores", &common::dut_core()],
    );
    cmd.env(engine::worker::PANIC_WORKER_ENV, "0");
    let mut dut = Running::spawn(cmd, "dataplane run");
    dut.wait_for("worker 0 on core", Duration::from_secs(10));
    assert!(lab.has_xdp("dut", "dut0") && lab.has_xdp("dut", "dut1"));
    let gen = lab
        .dataplane("gen", &["gen", "--iface", "gen0", "--count", "100", "--rate", "10000", "--core", "0"])
        .output()
        .unwrap();
    assert!(gen.status.success(), "{}", text(&gen.stderr));
    // No signal: the panic alone must end it.
    let (status, stderr) = dut.finish(0, Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("worker 0 (core"), "{stderr}");
    assert!(stderr.contains("panicked: injected"), "{stderr}");
    assert!(lab.wait_xdp("dut", "dut0", false, Duration::from_secs(2)), "dut0 still has a program");
    assert!(lab.wait_xdp("dut", "dut1", false, Duration::from_secs(2)), "dut1 still has a program");
}

// ---- SIGHUP ----

#[test]
fn sighup_without_rules_is_reported_and_run_goes_on() {
    let mut run = Running::spawn(
        dataplane(&["run", "--port", "mem", "--action", "drop", "--cores", "0", "--stats-interval", "0"]),
        "dataplane run",
    );
    run.wait_for("worker 0 on core 0", Duration::from_secs(10));
    for _ in 0..2 {
        run.signal(libc::SIGHUP);
    }
    run.wait_for("SIGHUP: no --rules file to reload; still running", Duration::from_secs(5));
    assert!(run.running(), "SIGHUP killed run:\n{}", run.stderr());
    let (status, stderr) = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("totals:"), "{stderr}");
}

#[test]
fn an_idle_worker_lets_go_of_the_old_rules_after_a_reload() {
    let dir = TempDir::new("policy", "idle-reload");
    let rules = dir.file("acl.rules", "ip_proto udp dst_port 9 action pass\n");
    let rules_s = rules.to_str().unwrap();
    // No frame ever arrives (an empty mem port): only the idle path can take the new table.
    let mut run = Running::spawn(
        dataplane(&[
            "run",
            "--port",
            "mem",
            "--action",
            "drop",
            "--cores",
            "0",
            "--stats-interval",
            "1",
            "--rules",
            rules_s,
        ]),
        "dataplane run",
    );
    run.wait_for("worker 0 on core 0", Duration::from_secs(10));
    std::fs::write(&rules, "ip_proto udp dst_port 9 action pass\nip_proto tcp action drop\n").unwrap();
    run.signal(libc::SIGHUP);
    run.wait_for("SIGHUP: 2 rules", Duration::from_secs(5));
    // Within one stats interval (1 s), with margin for a loaded machine.
    let published = Instant::now();
    run.wait_for("rules of generation 1 released by every worker", Duration::from_secs(2));
    assert!(published.elapsed() < Duration::from_secs(1), "took {:?}", published.elapsed());
    let (status, stderr) = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("rules: generation 2, 2 rules"), "{stderr}");
}

// ---- privileges ----

/// `CapEff`/`CapPrm`/`CapBnd` of every thread of `pid`.
fn thread_caps(pid: u32) -> Vec<(String, String)> {
    let mut caps = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines().filter(|l| ["CapEff:", "CapPrm:", "CapBnd:"].iter().any(|k| l.starts_with(k))) {
            let (key, value) = line.split_once(':').unwrap();
            caps.push((format!("{} {key}", task.file_name().to_string_lossy()), value.trim().to_string()));
        }
    }
    caps
}

#[test]
fn run_drops_every_capability_after_setup_and_says_so() {
    if !require_root("run_drops_every_capability_after_setup_and_says_so") {
        return;
    }
    let netns = Netns::up("c", false, false);
    let mut run = Running::spawn(
        netns.dataplane(&["run", "--port", "af_xdp:iface=qb,queues=0-1", "--action", "drop", "--cores", "0"]),
        "dataplane run",
    );
    run.wait_for("worker 0 on core 0", Duration::from_secs(10));
    run.wait_for("capabilities dropped (", Duration::from_secs(5));
    assert!(run.stderr().contains("cap_net_admin"), "{}", run.stderr());
    assert!(run.stderr().contains("the workers and SIGHUP reloads run with none"), "{}", run.stderr());
    let caps = thread_caps(run.pid());
    assert!(caps.len() >= 6, "the control thread and the worker: {caps:?}");
    for (what, value) in &caps {
        assert_eq!(value, "0000000000000000", "{what}");
    }
    // Unprivileged, it still runs and stops cleanly (closing its links needs nothing).
    let (status, stderr) = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    assert!(netns.wait_no_xdp("qb", Duration::from_secs(2)), "qb still has a program");
}

// ---- traffic no socket sees ----

#[test]
fn queues_without_a_socket_get_the_default_drop_in_xdp() {
    if !require_root("queues_without_a_socket_get_the_default_drop_in_xdp") {
        return;
    }
    let _serial = traffic_lock();
    let netns = Netns::up("q", false, false);
    let dir = TempDir::new("policy", "uncovered");
    let rules = dir.file("acl.rules", "ip_proto udp dst_port 9 action pass\n");
    let rules_s = rules.to_str().unwrap();
    let stats = dir.path("stats.jsonl");
    let send = |queue: &str, count: &str| {
        let out = netns
            .dataplane(&["gen", "--iface", "qa", "--queue", queue, "--count", count, "--rate", "20000", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "gen on queue {queue}: {}", text(&out.stderr));
        assert_eq!(last_json(&text(&out.stdout))["sent"].as_u64(), Some(count.parse().unwrap()));
    };

    // --default pass cannot be applied by the kernel: refused, naming the queue.
    let out = netns
        .dataplane(&["run", "--port", "af_xdp:iface=qb,queues=0", "--rules", rules_s, "--duration", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("qb: receive queue(s) 1 have no socket"), "{stderr}");
    assert!(stderr.contains("--uncovered pass"), "{stderr}");
    assert!(netns.xdp_prog_id("qb").is_none(), "a refused run attached something");

    // --default drop: the socket on queue 0 sees its frames, queue 1's are XDP_DROP.
    let stats_s = stats.to_str().unwrap();
    let mut run = Running::spawn(
        netns.dataplane(&[
            "run",
            "--port",
            "af_xdp:iface=qb,queues=0",
            "--action",
            "drop",
            "--cores",
            &common::dut_core(),
            "--rules",
            rules_s,
            "--default",
            "drop",
            "--stats-interval",
            "0",
            "--stats-json",
            stats_s,
        ]),
        "dataplane run",
    );
    run.wait_for("worker 0 on core", Duration::from_secs(10));
    assert!(run
        .stderr()
        .contains("qb: queue(s) 1 have no socket; their frames and frames outside steer=all get XDP_DROP"));
    let drops_before = netns.counter("qb", "rx_queue_1_xdp_drops");
    send("1", "200");
    let drops = netns.wait_counter("qb", "rx_queue_1_xdp_drops", drops_before + 200, Duration::from_secs(5));
    assert_eq!(drops - drops_before, 200, "queue 1's frames are dropped in XDP");
    assert_eq!(netns.counter("qb", "rx_queue_1_xdp_redirect"), 0);
    send("0", "100");
    let redirected = netns.wait_counter("qb", "rx_queue_0_xdp_redirect", 100, Duration::from_secs(5));
    assert_eq!(redirected, 100, "queue 0's frames go to the socket");
    let (status, stderr) = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
    let dut = last_json(&std::fs::read_to_string(&stats).unwrap());
    assert_eq!(dut["totals"]["rx"], 100, "only queue 0's frames reached the dataplane: {dut}");
    assert!(netns.wait_no_xdp("qb", Duration::from_secs(2)), "qb still has a program");

    // The same with --uncovered pass, told on purpose: queue 1's frames go to the kernel.
    let mut run = Running::spawn(
        netns.dataplane(&[
            "run",
            "--port",
            "af_xdp:iface=qb,queues=0",
            "--action",
            "drop",
            "--cores",
            &common::dut_core(),
            "--rules",
            rules_s,
            "--uncovered",
            "pass",
            "--stats-interval",
            "0",
        ]),
        "dataplane run",
    );
    run.wait_for("worker 0 on core", Duration::from_secs(10));
    let (drops_before, packets_before) =
        (netns.counter("qb", "rx_queue_1_xdp_drops"), netns.counter("qb", "rx_queue_1_xdp_packets"));
    send("1", "50");
    let packets = netns.wait_counter("qb", "rx_queue_1_xdp_packets", packets_before + 50, Duration::from_secs(5));
    assert_eq!(packets - packets_before, 50);
    assert_eq!(netns.counter("qb", "rx_queue_1_xdp_drops"), drops_before, "passed, not dropped");
    let (status, stderr) = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(status.success(), "{status}: {stderr}");
}

// ---- rules compile --to xdp ----

fn pinned_link_info(pins: &Path) -> bpf::LinkInfo {
    let fd = bpf::get_pinned(&pins.join("qa").join("xdp").join("link")).unwrap();
    bpf::Link::from_fd(fd).info().unwrap()
}

#[test]
fn compiling_to_xdp_again_swaps_the_program_in_its_link_and_a_failure_keeps_the_old_one() {
    if !require_root("compiling_to_xdp_again_swaps_the_program_in_its_link_and_a_failure_keeps_the_old_one") {
        return;
    }
    let netns = Netns::up("x", false, true);
    let pins = netns.pins.clone().unwrap();
    let pins_s = pins.to_str().unwrap().to_string();
    let dir = TempDir::new("policy", "swap");
    let first = dir.file("first.rules", "ip_proto udp dst_port 9 action drop\n");
    let second = dir.file("second.rules", "ip_proto udp dst_port 9 action pass\nip_proto tcp action drop\n");
    let broken = dir.file("broken.rules", "ip_proto udp dst_port nine action drop\n");
    let refused = dir.file("refused.rules", "ip_proto udp action fwd 3\n");
    let compile = |file: &Path| {
        netns
            .dataplane(&[
                "rules",
                "compile",
                file.to_str().unwrap(),
                "--to",
                "xdp",
                "--dev",
                "qa",
                "--pin-root",
                &pins_s,
            ])
            .output()
            .unwrap()
    };

    let out = compile(&first);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first_prog = netns.xdp_prog_id("qa").expect("attached");
    let link = pinned_link_info(&pins);
    assert_eq!(link.prog_id, first_prog);

    let out = compile(&second);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("replacing the previous program in its link"), "{}", text(&out.stderr));
    let second_prog = netns.xdp_prog_id("qa").expect("still attached");
    assert_ne!(second_prog, first_prog, "a new program runs");
    let swapped = pinned_link_info(&pins);
    assert_eq!(swapped.id, link.id, "in the same link (never detached)");
    assert_eq!(swapped.prog_id, second_prog);
    // The pins describe what runs: the new counters (3 entries: 2 rules and no-match), and
    // nothing staged is left over.
    let counters = bpf::Map::from_fd(bpf::get_pinned(&pins.join("qa/xdp/counters")).unwrap()).unwrap();
    assert_eq!(counters.max_entries(), 3);
    let names: Vec<String> = std::fs::read_dir(pins.join("qa/xdp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with("-new")), "{names:?}");

    // A file that does not parse, and one the XDP target refuses: nothing changes.
    for bad in [&broken, &refused] {
        let out = compile(bad);
        assert!(!out.status.success(), "{}", bad.display());
        assert_eq!(netns.xdp_prog_id("qa"), Some(second_prog), "{}: the old program stays", bad.display());
        assert_eq!(pinned_link_info(&pins), swapped, "{}", bad.display());
    }

    let out = netns
        .dataplane(&[
            "rules",
            "compile",
            second.to_str().unwrap(),
            "--to",
            "xdp",
            "--dev",
            "qa",
            "--pin-root",
            &pins_s,
            "--remove",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(netns.wait_no_xdp("qa", Duration::from_secs(2)), "still attached after --remove");
}

// ---- sink ----

#[test]
fn sink_refuses_an_addressed_or_routed_interface_unless_forced() {
    if !require_root("sink_refuses_an_addressed_or_routed_interface_unless_forced") {
        return;
    }
    // IPv6 on: qb gets a link-local address, which must not count.
    let netns = Netns::up("s", true, false);
    let sink = |force: bool| {
        let mut args = vec!["sink", "--iface", "qb", "--duration", "0.2", "--json"];
        if force {
            args.push("--force");
        }
        netns.dataplane(&args).output().unwrap()
    };
    let out = sink(false);
    assert!(out.status.success(), "only a link-local address: {}", text(&out.stderr));

    netns.ip(&["addr", "add", "192.0.2.7/24", "dev", "qb"]);
    let out = sink(false);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("qb carries address 192.0.2.7/24"), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert!(netns.xdp_prog_id("qb").is_none(), "refused, yet attached");
    let out = sink(true);
    assert!(out.status.success(), "--force: {}", text(&out.stderr));

    netns.ip(&["addr", "flush", "dev", "qb"]);
    netns.ip(&["route", "add", "default", "dev", "qb"]);
    let out = sink(false);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("a default route"), "{}", text(&out.stderr));
}
