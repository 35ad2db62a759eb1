//! `queues=all` and preferred busy polling (`busy_poll=BUDGET`) on a 2-queue veth pair in a
//! namespace of the test's own: every queue bound and counted, the notice where busy
//! polling cannot work (veth has no NAPI id on its queues), and the device's NAPI settings
//! put back after a normal exit, after `kill -9` (by the helper), and after the helper is
//! killed too (by the next run, from the state file).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{last_json, require_root, text, Proc, DATAPLANE};

/// A namespace with `qa` <-> `qb`, two transmit and two receive queues each, IPv6 off (only
/// the test's frames); removed on drop.
struct Netns(testkit::Netns);

impl Netns {
    fn up(tag: &str) -> Netns {
        let netns = testkit::Netns::new(&format!("dpq{tag}"));
        netns.disable_ipv6();
        netns.add_veth_pair("qa", "qb", 2);
        Netns(netns)
    }

    fn exec(&self, program: &str, args: &[&str]) -> Command {
        self.0.command(program, args)
    }

    fn dataplane(&self, args: &[&str]) -> Command {
        self.exec(DATAPLANE, args)
    }

    fn wait_counter(&self, dev: &str, name: &str, at_least: u64) -> u64 {
        self.0.wait_ethtool_counter(dev, name, at_least, Duration::from_secs(10))
    }

    /// `napi_defer_hard_irqs` and `gro_flush_timeout` of `dev`, read inside the namespace.
    fn napi(&self, dev: &str) -> (u64, u64) {
        let read = |file: &str| {
            let out = self.exec("cat", &[&format!("/sys/class/net/{dev}/{file}")]).output().unwrap();
            assert!(out.status.success(), "{file}: {}", text(&out.stderr));
            text(&out.stdout).trim().parse::<u64>().unwrap()
        };
        (read("napi_defer_hard_irqs"), read("gro_flush_timeout"))
    }

    fn set_napi(&self, dev: &str, (defer, gro): (u64, u64)) {
        let script = format!(
            "echo {defer} > /sys/class/net/{dev}/napi_defer_hard_irqs && echo {gro} > /sys/class/net/{dev}/gro_flush_timeout"
        );
        run_ok(&mut self.exec("sh", &["-c", &script]));
    }

    fn wait_napi(&self, dev: &str, want: (u64, u64)) -> (u64, u64) {
        let start = Instant::now();
        loop {
            let now = self.napi(dev);
            if now == want || start.elapsed() > Duration::from_secs(10) {
                return now;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn has_xdp(&self, dev: &str) -> bool {
        self.0.has_xdp(dev)
    }

    fn wait_xdp(&self, dev: &str) {
        let start = Instant::now();
        while !self.has_xdp(dev) {
            assert!(start.elapsed() < Duration::from_secs(10), "no program attached to {dev}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `count` frames from `qa` onto transmit queue `queue`: veth hands them to the same
    /// receive queue of `qb`.
    fn send(&self, queue: u32, count: u32) {
        let queue = queue.to_string();
        let count = count.to_string();
        let out = self
            .dataplane(&["gen", "--iface", "qa", "--queue", &queue, "--count", &count, "--rate", "20000", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "gen on queue {queue}: {}", text(&out.stderr));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // A failed test may leave a run's state file (named by the namespace's inode).
        use std::os::unix::fs::MetadataExt;
        // (Before the namespace goes: the field drops after this.)
        if let Ok(meta) = std::fs::metadata(format!("/run/netns/{}", self.0.name())) {
            let _ = std::fs::remove_file(format!("/run/dataplane/qb.{}.busy-poll", meta.ino()));
        }
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", text(&out.stderr));
}

/// The children of `pid` (the NAPI settings helper of a run).
fn children(pid: u32) -> Vec<i32> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace().filter_map(|p| p.parse().ok()).collect()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn queues_all_binds_and_counts_every_queue() {
    if !require_root("queues_all_binds_and_counts_every_queue") {
        return;
    }
    let netns = Netns::up("a");
    let run = Proc::spawn(
        netns.dataplane(&[
            "run",
            "--port",
            "af_xdp:iface=qb,queues=all,busy_poll=0",
            "--action",
            "drop",
            "--stats-interval",
            "0",
            "--stats-json",
            "-",
        ]),
        "dataplane run queues=all",
    );
    netns.wait_xdp("qb");
    netns.send(0, 100);
    netns.send(1, 200);
    // Every frame went to a socket: queue by queue, none passed to the kernel.
    assert_eq!(netns.wait_counter("qb", "rx_queue_0_xdp_redirect", 100), 100);
    assert_eq!(netns.wait_counter("qb", "rx_queue_1_xdp_redirect", 200), 200);
    let out = run.finish(libc::SIGINT, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stats = last_json(&text(&out.stdout));
    assert_eq!(stats["totals"]["rx"], 300, "{stats}");
    let sockets = stats["ports"][0]["sockets"].as_array().unwrap();
    let bound: Vec<u64> = sockets.iter().map(|s| s["queue"].as_u64().unwrap()).collect();
    assert_eq!(bound, vec![0, 1], "{stats}");
    // One worker per queue by default, each queue's frames on its worker, and start-up
    // says which queue goes to which core.
    if cores() >= 2 {
        assert!(stderr.contains("dataplane: worker 0 on core 0: af_xdp:qb/q0"), "{stderr}");
        assert!(stderr.contains("dataplane: worker 1 on core 1: af_xdp:qb/q1"), "{stderr}");
        assert_eq!(stats["workers"][0]["rx"], 100, "{stats}");
        assert_eq!(stats["workers"][1]["rx"], 200, "{stats}");
    } else {
        assert!(stderr.contains("af_xdp:qb/q0, af_xdp:qb/q1"), "{stderr}");
    }
    // busy_poll=0: not asked for, so neither a notice nor the NAPI settings.
    assert!(!stderr.contains("busy polling"), "{stderr}");
    assert_eq!(netns.napi("qb"), (0, 0));
}

#[test]
fn queues_all_leaves_nothing_uncovered_under_rules() {
    if !require_root("queues_all_leaves_nothing_uncovered_under_rules") {
        return;
    }
    let netns = Netns::up("r");
    let rules = std::env::temp_dir().join(format!("dataplane-queues-{}.rules", std::process::id()));
    std::fs::write(&rules, "ip_proto udp dst_port 9 action drop\n").unwrap();
    let rules_s = rules.to_str().unwrap();
    // A list that leaves queue 1 out is refused under --default pass ...
    let out = netns
        .dataplane(&["run", "--port", "af_xdp:iface=qb,queues=0", "--rules", rules_s, "--duration", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("qb: receive queue(s) 1 have no socket"), "{}", text(&out.stderr));
    // ... queues=all covers every queue, so the same run starts.
    let out = netns
        .dataplane(&["run", "--port", "af_xdp:iface=qb,queues=all", "--rules", rules_s, "--duration", "1"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&rules);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("have no socket"), "{stderr}");
}

#[test]
fn busy_polling_on_veth_says_it_is_unavailable_and_runs() {
    if !require_root("busy_polling_on_veth_says_it_is_unavailable_and_runs") {
        return;
    }
    let netns = Netns::up("b");
    let run = Proc::spawn(
        netns.dataplane(&[
            "run",
            "--port",
            "af_xdp:iface=qb,queues=0-1,busy_poll=64",
            "--action",
            "drop",
            "--cores",
            "0",
            "--stats-interval",
            "0",
            "--stats-json",
            "-",
        ]),
        "dataplane run busy_poll=64",
    );
    netns.wait_xdp("qb");
    netns.send(1, 50);
    assert_eq!(netns.wait_counter("qb", "rx_queue_1_xdp_redirect", 50), 50);
    let out = run.finish(libc::SIGINT, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for queue in [0, 1] {
        let notice = format!("busy polling unavailable on qb queue {queue}: no NAPI id");
        assert_eq!(stderr.matches(&notice).count(), 1, "{stderr}");
    }
    // Asked again once frames came (veth: still none).
    assert!(stderr.contains("af_xdp:qb/q1: still no NAPI id after the first frames"), "{stderr}");
    assert_eq!(last_json(&text(&out.stdout))["totals"]["rx"], 50);
}

#[test]
fn napi_settings_are_put_back_after_exit_and_after_kill() {
    if !require_root("napi_settings_are_put_back_after_exit_and_after_kill") {
        return;
    }
    let netns = Netns::up("n");
    // Not the kernel's defaults, so a restore to "0" would be caught.
    let original = (1, 1000);
    netns.set_napi("qb", original);
    let spawn = || {
        Proc::spawn(
            netns.dataplane(&[
                "run",
                "--port",
                "af_xdp:iface=qb,queues=0-1,busy_poll=64",
                "--action",
                "drop",
                "--cores",
                "0",
            ]),
            "dataplane run (busy polling asked for: a veth's NAPI settings change only then)",
        )
    };
    let running = (2, 200_000);

    // Not asked for: a veth (no bus, no NAPI ids) keeps its settings.
    let run = Proc::spawn(
        netns.dataplane(&["run", "--port", "af_xdp:iface=qb,queues=0-1", "--action", "drop", "--cores", "0"]),
        "dataplane run (busy polling by default)",
    );
    netns.wait_xdp("qb");
    let out = run.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("for the run (put back"), "{}", text(&out.stderr));
    assert_eq!(netns.napi("qb"), original, "a virtual device's NAPI settings are left alone by default");

    // A normal exit.
    let run = spawn();
    netns.wait_xdp("qb");
    assert_eq!(netns.wait_napi("qb", running), running, "set for the run");
    let out = run.finish(libc::SIGINT, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "qb: napi_defer_hard_irqs 1 -> 2, gro_flush_timeout 1000 -> 200000 for the run (put back at exit; by \
             hand: echo 1 > /sys/class/net/qb/napi_defer_hard_irqs; echo 1000 > /sys/class/net/qb/gro_flush_timeout)"
        ),
        "{stderr}"
    );
    assert_eq!(netns.napi("qb"), original, "put back at exit");

    // kill -9: the helper puts them back.
    let run = spawn();
    netns.wait_xdp("qb");
    assert_eq!(netns.wait_napi("qb", running), running);
    run.signal(libc::SIGKILL);
    assert_eq!(netns.wait_napi("qb", original), original, "put back by the helper after kill -9");
    drop(run);

    // kill -9 of the helper and the run: the next run puts them back from the state file.
    let run = spawn();
    netns.wait_xdp("qb");
    assert_eq!(netns.wait_napi("qb", running), running);
    let helpers = children(run.pid());
    assert_eq!(helpers.len(), 1, "one helper: {helpers:?}");
    common::kill(helpers[0] as u32, libc::SIGKILL);
    run.signal(libc::SIGKILL);
    drop(run);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(netns.napi("qb"), running, "nobody left to put them back");
    let out = netns
        .dataplane(&["run", "--port", "af_xdp:iface=qb,busy_poll=0", "--action", "drop", "--duration", "0.2"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("qb: put back napi_defer_hard_irqs 1 and gro_flush_timeout 1000 that a run which did not exit"),
        "{stderr}"
    );
    assert_eq!(netns.napi("qb"), original, "put back by the next run");
}
