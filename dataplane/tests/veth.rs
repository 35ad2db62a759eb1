//! The real thing, as root: veth pairs in fresh namespaces, AF_XDP sockets, XDP programs,
//! the generator and the sink. Every test that starts a polling dataplane takes a lock, so
//! no two spinning workers share a core: a worker starved for ~10 ms lets the kernel run out
//! of fill-ring frames, and "every frame arrives" would be flaky. Each test still has its
//! own uniquely named topology, so nothing else stops them from running in parallel.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;

static TRAFFIC: Mutex<()> = Mutex::new(());

const FRAMES: &str = "100000";
// Paced well below what the dataplane does, so a worker descheduled for ~20 ms on a busy
// machine still finds the kernel holding enough empty frames (half the fill ring).
const RATE: &str = "50000";

fn traffic_lock() -> std::sync::MutexGuard<'static, ()> {
    TRAFFIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts the sink on `iface` in namespace `role` and waits until it counts.
fn start_sink(lab: &Lab, role: &str, iface: &str) -> Proc {
    let sink = Proc::spawn(lab.dataplane(role, &["sink", "--iface", iface, "--json"]), "sink");
    assert!(lab.wait_xdp(role, iface, true, Duration::from_secs(5)), "the sink did not attach to {iface}");
    sink
}

fn start_dut(lab: &Lab, args: &[&str], stats: &std::path::Path) -> Proc {
    let core = dut_core();
    let mut full: Vec<String> =
        ["run", "--cores", &core, "--stats-interval", "0.5", "--stats-json"].iter().map(|s| s.to_string()).collect();
    full.push(stats.to_str().unwrap().to_string());
    // Rings of 4096 (the kernel holds 2048 empty frames): at RATE a worker descheduled for
    // ~40 ms on a busy machine still loses nothing; the default 2048 absorbs half of that.
    full.extend(args.iter().map(|arg| {
        if arg.starts_with("af_xdp:") && !arg.contains("ring=") {
            format!("{arg},ring=4096")
        } else {
            arg.to_string()
        }
    }));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    let dut = Proc::spawn(lab.dataplane("dut", &full), "dataplane run");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the dataplane did not attach to dut0");
    dut
}

fn send(lab: &Lab, count: &str, rate: &str) -> serde_json::Value {
    let out = lab
        .dataplane("gen", &["gen", "--iface", "gen0", "--count", count, "--rate", rate, "--core", "0", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "gen failed: {}", text(&out.stderr));
    last_json(&text(&out.stdout))
}

/// Waits (up to 10 s) until the dataplane's latest stats line says it received at least
/// `frames` and has sent or dropped every frame it received: then nothing is left in it to
/// wait for. Returns that line. Stats lines come every 0.5 s (`start_dut`).
fn wait_processed(stats: &std::path::Path, frames: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut line = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        if let Some(last) = std::fs::read_to_string(stats)
            .ok()
            .and_then(|all| all.lines().rev().find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()))
        {
            line = last;
            let totals = &line["totals"];
            let (rx, tx, dropped) =
                (totals["rx"].as_u64().unwrap(), totals["tx"].as_u64().unwrap(), totals["dropped"].as_u64().unwrap());
            if rx >= frames && tx + dropped == rx {
                return line;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the dataplane did not process {frames} frames within 10 s; last stats: {line}");
}

/// What every run of the dataplane must show in its final stats line: every frame received
/// was sent or dropped under a named reason (rx = tx + every drop reason, in total, per
/// port and per worker), nothing was refused from the kernel, and after the workers stopped
/// every frame of their UMEMs was back in its pool or lent to the kernel's fill ring (the
/// kernel keeps those until the socket closes), none still sending and none lost.
fn assert_accounted(dut: &serde_json::Value) {
    let n = |v: &serde_json::Value| v.as_u64().unwrap_or_else(|| panic!("not a count: {v} in {dut}"));
    let sum_drops = |drops: &serde_json::Value| drops.as_object().unwrap().values().map(n).sum::<u64>();
    let totals = &dut["totals"];
    assert_eq!(n(&totals["rx"]), n(&totals["tx"]) + n(&totals["dropped"]), "unaccounted frames: {dut}");
    assert_eq!(sum_drops(&dut["drops"]), n(&totals["dropped"]), "drop reasons do not add up: {dut}");
    let ports = dut["ports"].as_array().unwrap();
    assert_eq!(ports.iter().map(|p| n(&p["rx"])).sum::<u64>(), n(&totals["rx"]), "{dut}");
    assert_eq!(ports.iter().map(|p| n(&p["tx"])).sum::<u64>(), n(&totals["tx"]), "{dut}");
    for port in ports {
        assert_eq!((n(&port["bad_desc"]), n(&port["bad_completion"])), (0, 0), "refused descriptors: {port}");
    }
    for worker in dut["workers"].as_array().unwrap() {
        assert_eq!(n(&worker["rx"]), n(&worker["tx"]) + sum_drops(&worker["drops"]), "worker unaccounted: {worker}");
        let frames = &worker["frames_at_exit"];
        assert_eq!(frames["lost"], 0, "frames lost by a worker: {worker}");
        assert_eq!(frames["tx_pending"], 0, "frames still sending at exit: {worker}");
        assert_eq!(n(&frames["free"]) + n(&frames["rx_lent"]), n(&frames["total"]), "{worker}");
        assert!(n(&frames["free"]) > 0, "{worker}");
    }
}

/// Stops the dataplane with SIGINT and returns its final stats line, checked with
/// [`assert_accounted`].
fn stop_dut(dut: Proc, stats: &std::path::Path) -> serde_json::Value {
    let out = dut.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(out.status.success(), "dataplane run exited with {}: {}", out.status, text(&out.stderr));
    assert!(text(&out.stderr).contains("totals:"), "no totals printed: {}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("UNACCOUNTED"), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("unaccounted for at exit"), "{}", text(&out.stderr));
    let final_line = last_json(&std::fs::read_to_string(stats).unwrap());
    assert_eq!(final_line["final"], true);
    assert_accounted(&final_line);
    final_line
}

fn stop_sink(sink: Proc) -> serde_json::Value {
    let out = sink.finish(libc::SIGINT, Duration::from_secs(10));
    assert!(out.status.success(), "sink: {}", text(&out.stderr));
    last_json(&text(&out.stdout))
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dataplane-test-{}-{name}", std::process::id()))
}

/// What one paced traffic run counted: the generator, the dataplane (its final stats line)
/// and the sink.
struct Counted {
    gen: serde_json::Value,
    dut: serde_json::Value,
    sink: serde_json::Value,
}

/// Starts a sink on `sink_at` (namespace role, interface) and a dataplane with `dut_args`,
/// sends FRAMES frames at RATE from gen0, lets everything drain, stops both.
fn run_traffic(lab: &Lab, sink_at: (&str, &str), dut_args: &[&str]) -> Counted {
    let stats = temp_path(&format!("{}.jsonl", lab.prefix));
    let sink = start_sink(lab, sink_at.0, sink_at.1);
    let dut = start_dut(lab, dut_args, &stats);
    let gen = send(lab, FRAMES, RATE);
    wait_processed(&stats, gen["sent"].as_u64().unwrap());
    let dut = stop_dut(dut, &stats);
    let sink = stop_sink(sink);
    let _ = std::fs::remove_file(&stats);
    assert_eq!(gen["sent"], 100_000, "generator: {gen}");
    Counted { gen, dut, sink }
}

#[test]
fn fwd_delivers_every_frame_and_the_counters_agree() {
    if !require_root("fwd_delivers_every_frame_and_the_counters_agree") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("f");
    let Counted { dut, sink, .. } = run_traffic(
        &lab,
        ("sink", "sink0"),
        &["--port", "af_xdp:iface=dut0,rx_hints=1", "--port", "af_xdp:iface=dut1", "--action", "fwd"],
    );
    assert_eq!(sink["packets"], 100_000, "sink: {sink}\ndataplane: {dut}");
    assert_eq!(dut["ports"][0]["rx"], 100_000, "{dut}");
    assert_eq!(dut["ports"][1]["tx"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["dropped"], 0, "{dut}");
    assert_eq!(dut["ports"][0]["rx_bytes"], 100_000 * 60, "{dut}");
    assert_eq!(dut["ports"][0]["sockets"][0]["xdp"]["rx_dropped"], 0, "{dut}");
    // RX hints, asked for on dut0 (run's default is off: dut1): the generator's AF_XDP copy-mode frames reach dut0 as skbs, so
    // veth's hash kfunc answers for every one; veth has no device timestamp, so the program
    // stamped each with its own clock; nothing here carries an offloaded VLAN tag.
    let hints = &dut["ports"][0]["sockets"][0]["xdp"]["rx_hints"];
    assert_eq!(hints["frames_with_metadata"], 100_000, "{dut}");
    assert_eq!((hints["hash"].as_u64(), hints["xdp_time"].as_u64()), (Some(100_000), Some(100_000)), "{dut}");
    assert_eq!((hints["timestamp"].as_u64(), hints["vlan"].as_u64()), (Some(0), Some(0)), "{dut}");
    assert_eq!(dut["xdp"]["rx_hints"]["hash"], 100_000, "the totals sum the sockets: {dut}");
    assert!(dut["ports"][1]["sockets"][0]["xdp"]["rx_hints"].is_null(), "run's default: no hints: {dut}");
}

/// [`run_traffic`] through a dataplane on dut0 and dut1 with `--action drop` and `rules` (a
/// rules file of this text, removed after), the sink on sink0.
fn run_rules(lab: &Lab, rules: &str) -> Counted {
    let path = temp_path(&format!("{}.rules", lab.prefix));
    write_rules(&path, rules);
    let path_arg = path.to_str().unwrap().to_string();
    let ports = ["--port", "af_xdp:iface=dut0", "--port", "af_xdp:iface=dut1"];
    let counted =
        run_traffic(lab, ("sink", "sink0"), &[&ports[..], &["--action", "drop", "--rules", &path_arg]].concat());
    let _ = std::fs::remove_file(&path);
    counted
}

/// A pasted tc line's `mirred egress redirect dev dut1` forwards out of the port whose
/// interface is dut1; with `--action drop` nothing else would leave.
#[test]
fn a_mirred_rule_forwards_to_the_port_it_names() {
    if !require_root("a_mirred_rule_forwards_to_the_port_it_names") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("m");
    let Counted { dut, sink, .. } = run_rules(
        &lab,
        "tc filter add dev dut0 ingress pref 1 proto ip flower ip_proto udp action mirred egress redirect dev dut1\n",
    );
    assert_eq!(sink["packets"], 100_000, "sink: {sink}\ndataplane: {dut}");
    assert_eq!(dut["ports"][1]["tx"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["dropped"], 0, "{dut}");
}

/// tc's vlan action, indev and an egress filter through `dataplane run`: frames arriving on
/// dut0 get an 802.1Q tag (VID 100) and leave by dut1, whose egress filter matches that tag
/// and pushes a second one; the sink counts every frame 8 bytes longer (60 + 2 tags).
#[test]
fn vlan_push_indev_and_an_egress_filter_act_on_every_frame() {
    if !require_root("vlan_push_indev_and_an_egress_filter_act_on_every_frame") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("v");
    let Counted { dut, sink, .. } = run_rules(
        &lab,
        "tc filter add dev dut0 ingress pref 1 proto ip flower indev dut0 ip_proto udp \
         action vlan push id 100 pipe action mirred egress redirect dev dut1\n\
         tc filter add dev dut1 egress pref 1 proto 802.1q flower vlan_id 100 action vlan push protocol 802.1ad id 7\n",
    );
    assert_eq!(sink["packets"], 100_000, "sink: {sink}\ndataplane: {dut}");
    assert_eq!(sink["bytes"], 100_000 * 68, "two tags on every frame: {sink}");
    assert_eq!(dut["ports"][1]["tx"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["dropped"], 0, "{dut}");
}

#[test]
fn reflect_sends_every_frame_back() {
    if !require_root("reflect_sends_every_frame_back") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("r");
    // Reflected frames come back to gen0: count them there.
    let Counted { dut, sink, .. } =
        run_traffic(&lab, ("gen", "gen0"), &["--port", "af_xdp:iface=dut0", "--action", "reflect"]);
    assert_eq!(sink["packets"], 100_000, "sink: {sink}\ndataplane: {dut}");
    assert_eq!(dut["ports"][0]["rx"], 100_000, "{dut}");
    assert_eq!(dut["ports"][0]["tx"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["dropped"], 0, "{dut}");
}

#[test]
fn drop_counts_every_frame_as_dropped() {
    if !require_root("drop_counts_every_frame_as_dropped") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("d");
    let Counted { dut, sink, .. } =
        run_traffic(&lab, ("sink", "sink0"), &["--port", "af_xdp:iface=dut0", "--action", "drop"]);
    assert_eq!(dut["totals"]["rx"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["tx"], 0, "{dut}");
    assert_eq!(dut["drops"]["action"], 100_000, "{dut}");
    assert_eq!(dut["totals"]["dropped"], 100_000, "{dut}");
    assert_eq!(sink["packets"], 0, "nothing leaves a dropping dataplane: {sink}");
}

#[test]
fn encap_on_the_wire_delivers_every_frame_as_vxlan() {
    if !require_root("encap_on_the_wire_delivers_every_frame_as_vxlan") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("e");
    let Counted { gen, dut, sink } = run_traffic(
        &lab,
        ("sink", "sink0"),
        &[
            "--port",
            "af_xdp:iface=dut0",
            "--port",
            "af_xdp:iface=dut1",
            "--action",
            "fwd",
            "--csum",
            "verify",
            "--rewrite",
            "encap:vxlan,src=198.18.1.1,dst=198.18.1.2,vni=42",
        ],
    );
    assert_eq!(gen["sent"], 100_000);
    assert_eq!(dut["ports"][1]["tx"], 100_000, "{dut}");
    assert_eq!(sink["packets"], 100_000, "{sink}");
    // 60-byte frames + 50 bytes of outer headers.
    assert_eq!(sink["bytes"], 100_000 * 110, "{sink}");
}

#[test]
fn kill_9_leaves_no_xdp_program_behind() {
    if !require_root("kill_9_leaves_no_xdp_program_behind") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("k");
    assert!(!lab.has_xdp("dut", "dut0"));
    let dut = Proc::spawn(
        lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut0", "--port", "af_xdp:iface=dut1"]),
        "dataplane run",
    );
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)));
    assert!(lab.wait_xdp("dut", "dut1", true, Duration::from_secs(5)));
    let out = dut.finish(libc::SIGKILL, Duration::from_secs(5));
    assert!(!out.status.success());
    assert!(lab.wait_xdp("dut", "dut0", false, Duration::from_secs(5)), "dut0 still has an XDP program");
    assert!(lab.wait_xdp("dut", "dut1", false, Duration::from_secs(5)), "dut1 still has an XDP program");
}

#[test]
fn a_second_dataplane_on_the_same_queue_gets_a_clear_error() {
    if !require_root("a_second_dataplane_on_the_same_queue_gets_a_clear_error") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("s");
    let first = Proc::spawn(lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut0"]), "first dataplane");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)));
    let second = lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut0"]).output().unwrap();
    assert_eq!(second.status.code(), Some(1));
    let message = text(&second.stderr);
    assert!(message.contains("queue 0 of dut0 is already taken"), "{message}");
    // The first one is unharmed and still attached; it stops cleanly.
    assert!(lab.has_xdp("dut", "dut0"));
    let out = first.finish(libc::SIGTERM, Duration::from_secs(5));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(lab.wait_xdp("dut", "dut0", false, Duration::from_secs(5)));
}

#[test]
fn bad_input_gets_a_clear_message_and_leaves_nothing_attached() {
    if !require_root("bad_input_gets_a_clear_message_and_leaves_nothing_attached") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("b");
    let cases: [(&[&str], i32, &str); 5] = [
        (&["run", "--port", "foo:iface=dut0"], 2, "unknown port type 'foo'"),
        (&["run", "--port", "af_xdp:iface=nosuch0"], 1, "no interface named 'nosuch0'"),
        (&["run", "--port", "af_xdp:iface=dut0,queues=3"], 1, "queue 3 is out of range"),
        (&["run", "--port", "af_xdp:iface=dut0", "--action", "fwd"], 1, "exactly two --port"),
        (&["gen", "--iface", "nosuch0", "--count", "1"], 1, "no interface named 'nosuch0'"),
    ];
    for (args, code, expected) in cases {
        let out = lab.dataplane("dut", args).output().unwrap();
        let message = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {message}");
        assert!(message.contains(expected), "{args:?}: {message}");
    }
    // Not root: nobody, without capabilities. A copy under /tmp, so nobody may execute it
    // wherever the build tree lives.
    let copy = std::env::temp_dir().join(format!("dataplane-nobody-{}", std::process::id()));
    std::fs::copy(DATAPLANE, &copy).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let copy_path = copy.to_str().unwrap();
    let out = lab
        .command(
            "dut",
            "setpriv",
            &["--reuid=65534", "--regid=65534", "--clear-groups", copy_path, "run", "--port", "af_xdp:iface=dut0"],
        )
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&copy);
    let message = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("needs root"), "{message}");
    assert!(!lab.has_xdp("dut", "dut0"));
    assert!(!lab.has_xdp("dut", "dut1"));
}

#[test]
fn steer_sends_only_matching_traffic_to_the_dataplane() {
    if !require_root("steer_sends_only_matching_traffic_to_the_dataplane") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("t");
    let stats = temp_path("steer.jsonl");
    let dut = start_dut(&lab, &["--port", "af_xdp:iface=dut0,steer=udp:9", "--action", "drop"], &stats);
    for dst_port in ["9", "10"] {
        let out = lab
            .dataplane("gen", &["gen", "--iface", "gen0", "--count", "1000", "--rate", "20000", "--dst-port", dst_port])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // Port 9's frames went first; port 10's, sent after them, would have arrived by then.
    wait_processed(&stats, 1000);
    let dut = stop_dut(dut, &stats);
    let _ = std::fs::remove_file(&stats);
    assert_eq!(dut["totals"]["rx"], 1000, "only UDP port 9 reaches the dataplane: {dut}");
}

#[test]
fn preflight_refuses_a_busy_interface_and_a_too_large_mtu() {
    if !require_root("preflight_refuses_a_busy_interface_and_a_too_large_mtu") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("p");
    // Another program (here our sink's counter) already holds dut0's XDP hook.
    let sink = start_sink(&lab, "dut", "dut0");
    let out = lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut0"]).output().unwrap();
    let message = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("cannot attach the XDP program to dut0"), "{message}");
    assert!(message.contains("already"), "{message}");
    drop(sink);
    assert!(lab.wait_xdp("dut", "dut0", false, Duration::from_secs(5)));

    let set_mtu = |mtu: &str| {
        let ok = lab.command("dut", "ip", &["link", "set", "dut1", "mtu", mtu]).status().unwrap().success();
        assert!(ok, "setting the MTU of dut1 to {mtu}");
    };
    // Without multi-buffer (mb=0; by default it turns on for such an MTU, tests/jumbo.rs).
    set_mtu("3000");
    let out = lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut1,mb=0"]).output().unwrap();
    let message = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("MTU of dut1 (3000)") && message.contains("frame=4096"), "{message}");
    assert!(message.contains("mb=0 turns multi-buffer off"), "{message}");
    set_mtu("9000");
    let out = lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut1,frame=4096,mb=0"]).output().unwrap();
    let message = text(&out.stderr);
    assert!(message.contains("MTU of dut1 (9000)") && message.contains("lower the MTU"), "{message}");
    // Beyond what even multi-buffer holds (17 chunks): refused whatever mb= says.
    set_mtu("65000");
    let out = lab.dataplane("dut", &["run", "--port", "af_xdp:iface=dut1"]).output().unwrap();
    let message = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(message.contains("MTU of dut1 (65000) is larger than multi-buffer can receive"), "{message}");
    assert!(!lab.has_xdp("dut", "dut1"));
}

/// Replaces `path` atomically (the dataplane may read it at any moment).
fn write_rules(path: &std::path::Path, contents: &str) {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, contents).unwrap();
    std::fs::rename(&staging, path).unwrap();
}

#[test]
fn rules_reload_under_traffic_loses_nothing() {
    if !require_root("rules_reload_under_traffic_loses_nothing") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("h");
    let rules = temp_path(&format!("{}.rules", lab.prefix));
    // Two files with one meaning for the generator's flow (UDP to port 9: pass), one of
    // them 500 rules long, and a broken one that must leave the running rules in place.
    let mut long = String::new();
    for i in 0..500 {
        long.push_str(&format!("ip_proto udp dst_port {} action drop\n", 10_000 + i));
    }
    long.push_str("ip_proto udp dst_port 9 action pass\n");
    let short = "ip_proto udp dst_port 9 action pass\nip_proto tcp action drop\n";
    let broken = "ip_proto udp dst_port 9 action pass\nip_proto udp dst_port nine action drop\n";
    write_rules(&rules, short);

    let stats = temp_path(&format!("{}.jsonl", lab.prefix));
    let sink = start_sink(&lab, "sink", "sink0");
    let rules_arg = rules.to_str().unwrap().to_string();
    let dut = start_dut(
        &lab,
        &[
            "--port",
            "af_xdp:iface=dut0",
            "--port",
            "af_xdp:iface=dut1",
            "--action",
            "fwd",
            "--rules",
            &rules_arg,
            "--default",
            "drop",
        ],
        &stats,
    );
    // The generator runs in a thread; this one rewrites the file and sends SIGHUP meanwhile.
    let gen = std::thread::scope(|scope| {
        let gen = scope.spawn(|| send(&lab, FRAMES, RATE));
        let mut reloads = 0;
        while !gen.is_finished() {
            let contents = match reloads % 3 {
                0 => long.as_str(),
                1 => broken,
                _ => short,
            };
            write_rules(&rules, contents);
            dut.signal(libc::SIGHUP);
            reloads += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(reloads >= 6, "only {reloads} reloads during the run");
        gen.join().unwrap()
    });
    wait_processed(&stats, gen["sent"].as_u64().unwrap());
    let out = dut.finish(libc::SIGINT, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "dataplane run exited with {}: {stderr}", out.status);
    let dut = last_json(&std::fs::read_to_string(&stats).unwrap());
    assert_eq!(dut["final"], true);
    assert_accounted(&dut);
    let sink = stop_sink(sink);
    let _ = std::fs::remove_file(&stats);
    let _ = std::fs::remove_file(&rules);

    assert_eq!(gen["sent"], 100_000, "generator: {gen}");
    assert_eq!(sink["packets"], 100_000, "sink: {sink}\ndataplane: {dut}\n{stderr}");
    assert_eq!(dut["totals"]["dropped"], 0, "{dut}");
    assert!(stderr.matches("SIGHUP: 501 rules").count() >= 2, "{stderr}");
    assert!(stderr.contains("keeping the rules of generation"), "{stderr}");
    assert!(stderr.contains(":2:23: "), "the broken line is reported with its position: {stderr}");
    assert!(dut["rules"]["generation"].as_u64().unwrap() >= 4, "{dut}");
}

/// Sends `args` from gen0 (paced, counted) and returns the generator's JSON line.
fn gen_json(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["gen", "--iface", "gen0", "--core", "0", "--json"];
    full.extend_from_slice(args);
    let out = lab.dataplane("gen", &full).output().unwrap();
    assert!(out.status.success(), "gen {args:?}: {}", text(&out.stderr));
    last_json(&text(&out.stdout))
}

#[test]
fn the_af_xdp_sink_counts_every_frame_with_no_loss_or_reordering() {
    if !require_root("the_af_xdp_sink_counts_every_frame_with_no_loss_or_reordering") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("q");
    // Straight from gen0 to its peer dut0: nothing in between to lose or reorder.
    let sink = Proc::spawn(lab.dataplane("dut", &["sink", "--iface", "dut0", "--engine", "af-xdp", "--json"]), "sink");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the sink did not attach to dut0");
    let udp = gen_json(&lab, &["--count", "20000", "--rate", "20000"]);
    let vxlan = gen_json(
        &lab,
        &["--template", "vxlan", "--ipv6", "--size", "imix", "--flows", "100", "--count", "12000", "--rate", "20000"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let sink = stop_sink(sink);
    assert_eq!((udp["sent"].as_u64(), vxlan["sent"].as_u64()), (Some(20_000), Some(12_000)), "{udp}\n{vxlan}");
    assert_eq!(sink["delivered"], 32_000, "{sink}");
    assert_eq!(sink["bytes"], udp["bytes"].as_u64().unwrap() + vxlan["bytes"].as_u64().unwrap(), "{sink}");
    // IMIX's 60-byte entries become 132-byte VXLAN/IPv6 frames with no room for the stamp:
    // the sink counts them unsequenced, and the others are numbered without holes.
    assert_eq!(sink["sequenced"], 20_000 + 5_000, "{sink}");
    assert_eq!(sink["unsequenced"], 7_000, "{sink}");
    assert_eq!(sink["streams"], 2, "{sink}");
    assert_eq!(
        (sink["lost"].as_u64(), sink["reordered"].as_u64(), sink["duplicates"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{sink}"
    );
    assert_eq!(sink["dropped_by_sink"], 0, "{sink}");
    let latency = &sink["latency_ns"];
    let (p50, p99, max) =
        (latency["p50"].as_u64().unwrap(), latency["p99"].as_u64().unwrap(), latency["max"].as_u64().unwrap());
    assert!(0 < p50 && p50 <= p99 && p99 <= max, "{sink}");
    // RX hints on veth: no device timestamp, so every sequenced frame's arrival time is the
    // redirect program's clock, not the sink's read after the receive.
    let clock = &sink["latency_clock"];
    assert_eq!(clock["xdp_time"], 25_000, "{sink}");
    assert_eq!((clock["rx_timestamp"].as_u64(), clock["receive"].as_u64()), (Some(0), Some(0)), "{sink}");
}

#[test]
fn the_xdp_sink_counts_exactly_what_a_paced_generator_sent_of_every_template() {
    if !require_root("the_xdp_sink_counts_exactly_what_a_paced_generator_sent_of_every_template") {
        return;
    }
    let _serial = traffic_lock();
    let lab = Lab::up("x");
    let sink = start_sink(&lab, "dut", "dut0");
    let mut sent = 0;
    let mut bytes = 0;
    for template in ["udp", "tcp", "vxlan", "gre", "geneve"] {
        let report = gen_json(
            &lab,
            &[
                "--template",
                template,
                "--size",
                "imix",
                "--vlan",
                "7",
                "--bad-csum",
                "10",
                "--count",
                "3000",
                "--rate",
                "30000",
            ],
        );
        assert_eq!(report["sent"], 3000, "{report}");
        assert_eq!(report["bad_csum"], 300, "{report}");
        sent += report["sent"].as_u64().unwrap();
        bytes += report["bytes"].as_u64().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let sink = stop_sink(sink);
    assert_eq!(sink["packets"], sent, "{sink}");
    assert_eq!(sink["bytes"], bytes, "{sink}");
    // The xdp engine reads the stamps in the kernel: IMIX's 590- and 1514-byte frames (5 of
    // its 12) have room for one and are numbered without holes; its 60-byte ones (raised to
    // the template's headers) have none and count unsequenced.
    assert_eq!(sink["sequenced"], 5 * 3000 * 5 / 12, "{sink}");
    assert_eq!(sink["unsequenced"], sent - 5 * 3000 * 5 / 12, "{sink}");
    assert_eq!(sink["streams"], 5, "one per generator run: {sink}");
    assert_eq!(
        (sink["lost"].as_u64(), sink["reordered"].as_u64(), sink["duplicates"].as_u64(), sink["late"].as_u64()),
        (Some(0), Some(0), Some(0), Some(0)),
        "{sink}"
    );
    assert!(sink["latency_ns"]["p50"].as_u64().is_some(), "{sink}");
}
