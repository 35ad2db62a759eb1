//! `gen --engine live` as root: every per-frame variation (sequence numbers, flows, bad
//! checksums, IMIX, every template) is made by its XDP program in the kernel, so it is
//! checked on frames captured at the receiver (dut0): the af-xdp sink for stamps, tshark
//! and the crate's own checksum verdicts for the bytes, the xdp sink's counter for pacing.
//! Namespaces are tagged "zg"; each test removes what it made.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use wire::checks::verdicts;
use wire::{walk, WalkConfig};
use wire::{CsumLayer, Status};

/// One traffic test at a time: the pacing test must not share the generator's core with
/// another generator.
static TRAFFIC: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    TRAFFIC.lock().unwrap_or_else(|p| p.into_inner())
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("dataplane-zg-{}-{name}", std::process::id()))
}

/// `gen --engine live ARGS` in the generator namespace; its JSON line.
fn live(lab: &Lab, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["gen", "--iface", "gen0", "--engine", "live", "--core", "0", "--json"];
    full.extend_from_slice(args);
    let out = lab.dataplane("gen", &full).output().unwrap();
    assert!(out.status.success(), "gen {args:?}: {}", text(&out.stderr));
    let report = last_json(&text(&out.stdout));
    assert_eq!(report["offered_src"], "veth-xdp-xmit", "{report}");
    assert_eq!(
        report["sent"].as_u64().unwrap() + report["xmit_errors"].as_u64().unwrap(),
        report["generated"].as_u64().unwrap(),
        "{report}"
    );
    // The ifb the engine made is gone again.
    let links = Command::new("ip").args(["-n", &lab.ns("gen"), "link", "show"]).output().unwrap();
    assert!(!text(&links.stdout).contains("dpgen"), "the generator left its ifb behind:\n{}", text(&links.stdout));
    report
}

/// Captures on dut0 (GRO on, so the veth takes live frames without an XDP program) while
/// `send` runs; returns the frames.
fn capture(lab: &Lab, name: &str, frames: usize, send: impl FnOnce()) -> (PathBuf, Vec<Vec<u8>>) {
    let ok = lab.command("dut", "ethtool", &["-K", "dut0", "gro", "on"]).output().unwrap();
    assert!(ok.status.success(), "ethtool -K dut0 gro on: {}", text(&ok.stderr));
    let path = temp(name);
    let _ = std::fs::remove_file(&path);
    let count = frames.to_string();
    let tshark = Proc::spawn(
        lab.command(
            "dut",
            "tshark",
            &["-n", "-q", "-i", "dut0", "-F", "pcap", "-c", &count, "-w", path.to_str().unwrap()],
        ),
        "tshark",
    );
    let start = Instant::now();
    while std::fs::metadata(&path).map_or(0, |m| m.len()) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "tshark did not start capturing");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    send();
    let mut tshark = tshark;
    let start = Instant::now();
    while tshark.exited().is_none() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = tshark.finish(libc::SIGINT, Duration::from_secs(10));
    let got = pmd::pcap::read_capture(&path).unwrap();
    (path, got)
}

/// For each frame, every checksum status tshark gives (0 bad, 1 good, 2 unverified).
fn tshark_statuses(capture: &Path) -> Vec<Vec<String>> {
    let mut args: Vec<String> = [
        "-n",
        "-r",
        capture.to_str().unwrap(),
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-d",
        "udp.port==4789,vxlan",
        "-d",
        "udp.port==6081,geneve",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    .map(String::from)
    .into();
    for field in ["ip.checksum.status", "udp.checksum.status", "tcp.checksum.status", "gre.checksum.status"] {
        args.extend(["-e".to_string(), field.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().expect("running tshark");
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| line.split(['\t', ',']).filter(|s| !s.is_empty()).map(String::from).collect())
        .collect()
}

/// Per checksum slot (CsumLayer::ALL order), how many frames have it bad; panics on a
/// frame that does not parse or has a stamp from another stream.
fn bad_per_layer(frames: &[Vec<u8>]) -> [usize; 5] {
    let mut per_layer = [0usize; 5];
    for (i, frame) in frames.iter().enumerate() {
        let offsets = walk(frame, &WalkConfig::default()).unwrap_or_else(|e| panic!("frame {i}: {e}"));
        let v = verdicts(frame, &offsets);
        for (k, l) in CsumLayer::ALL.iter().enumerate() {
            per_layer[k] += usize::from(v.get(*l) == Status::Bad);
        }
    }
    per_layer
}

fn src_port(frame: &[u8]) -> u16 {
    let offsets = walk(frame, &WalkConfig::default()).unwrap();
    let l4 = offsets.innermost().l4.unwrap().offset;
    u16::from_be_bytes([frame[l4], frame[l4 + 1]])
}

#[test]
fn live_frames_carry_sequence_numbers_without_holes() {
    if !require_root("live_frames_carry_sequence_numbers_without_holes") {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    let sink = Proc::spawn(lab.dataplane("dut", &["sink", "--iface", "dut0", "--engine", "af-xdp", "--json"]), "sink");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the sink did not attach");
    std::thread::sleep(Duration::from_millis(300));
    let report = live(&lab, &["--count", "30000", "--rate", "30000", "--flows", "7", "--size", "100"]);
    assert_eq!(report["sent"], 30000, "{report}");
    assert!(report["stream"].is_u64(), "{report}");
    // A second run (its own stream): VXLAN IMIX, where the 92-byte frames have no room for
    // a stamp (5 of every 12 have): numbered without holes all the same. At 12000 pps calls
    // hold 12 frames of one size; 2304 frames are 16 rounds of the 12 IMIX sizes.
    let report = live(&lab, &["--template", "vxlan", "--size", "imix", "--count", "2304", "--rate", "12000"]);
    assert_eq!(report["sent"], 2304, "{report}");
    std::thread::sleep(Duration::from_millis(300));
    let out = sink.finish(libc::SIGINT, Duration::from_secs(10));
    let got = last_json(&text(&out.stdout));
    assert_eq!(got["delivered"], 32304, "{got}");
    assert_eq!((got["sequenced"].as_u64(), got["unsequenced"].as_u64()), (Some(30960), Some(1344)), "{got}");
    assert_eq!(
        (got["lost"].as_u64(), got["duplicates"].as_u64(), got["reordered"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{got}"
    );
    assert_eq!(got["streams"], 2, "one CPU, one stream per run: {got}");
}

#[test]
fn live_frames_vary_flows_and_bad_checksums_per_frame() {
    if !require_root("live_frames_vary_flows_and_bad_checksums_per_frame")
        || !testkit::require_tool("live_frames_vary_flows_and_bad_checksums_per_frame", "tshark")
    {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    let (path, frames) = capture(&lab, "bad.pcap", 1000, || {
        let report = live(
            &lab,
            &[
                "--template",
                "vxlan",
                "--size",
                "128",
                "--flows",
                "8",
                "--bad-csum",
                "20",
                "--count",
                "1000",
                "--rate",
                "20000",
            ],
        );
        assert_eq!(report["sent"], 1000, "{report}");
        assert_eq!(report["bad_csum"], 200, "{report}");
    });
    assert_eq!(frames.len(), 1000);
    // vxlan over IPv4: outer_l3, outer_l4, inner_l3, inner_l4 take turns; no tunnel checksum.
    assert_eq!(bad_per_layer(&frames), [50, 50, 0, 50, 50]);
    let ports: HashSet<u16> = frames.iter().map(|f| src_port(f)).collect();
    assert_eq!(ports.len(), 8, "{ports:?}");
    // Frame i is flow i mod 8, bad when floor((i+1)/5) > floor(i/5): every fifth.
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(src_port(frame), 1024 + (i % 8) as u16, "frame {i}");
    }
    // tshark (an independent dissector) finds exactly those 200 bad, one per frame.
    let statuses = tshark_statuses(&path);
    let bad_frames: Vec<usize> =
        statuses.iter().enumerate().filter(|(_, s)| s.iter().any(|v| v == "0")).map(|(i, _)| i).collect();
    assert_eq!(bad_frames.len(), 200);
    assert!(statuses.iter().all(|s| s.iter().filter(|v| *v == "0").count() <= 1));
    assert_eq!(bad_frames.iter().map(|i| i % 5).collect::<HashSet<_>>(), HashSet::from([4]));
    // Per layer, by tshark's fields: ip (outer, inner), then udp (outer, inner).
    let mut per_field = [0usize; 4];
    for s in &statuses {
        assert_eq!(s.len(), 4, "{s:?}");
        for (k, v) in s.iter().enumerate() {
            per_field[k] += usize::from(v == "0");
        }
    }
    assert_eq!(per_field, [50, 50, 50, 50], "outer_l3, inner_l3, outer_l4, inner_l4");
    let _ = std::fs::remove_file(path);
}

#[test]
fn every_live_template_arrives_with_good_checksums_and_imix_is_exact() {
    if !require_root("every_live_template_arrives_with_good_checksums_and_imix_is_exact")
        || !testkit::require_tool("every_live_template_arrives_with_good_checksums_and_imix_is_exact", "tshark")
    {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    // At 12000 pps calls hold 12 frames: 12 calls (144 frames) hold 7:4:1 exactly.
    let per_run = 288;
    let mut runs: Vec<Vec<&str>> = Vec::new();
    for template in ["udp", "tcp", "vxlan", "gre", "geneve"] {
        for extra in [&[][..], &["--ipv6"][..], &["--vlan", "10"][..]] {
            let mut args = vec!["--template", template, "--size", "imix", "--flows", "5"];
            args.extend_from_slice(extra);
            runs.push(args);
        }
    }
    let total = per_run * runs.len();
    let (path, frames) = capture(&lab, "templates.pcap", total, || {
        for args in &runs {
            let mut args = args.clone();
            args.extend_from_slice(&["--count", "288", "--rate", "12000"]);
            let report = live(&lab, &args);
            assert_eq!(report["sent"], 288, "{args:?}: {report}");
        }
    });
    assert_eq!(frames.len(), total, "every frame captured");
    assert_eq!(bad_per_layer(&frames), [0; 5], "every checksum right (own verdicts)");
    let statuses = tshark_statuses(&path);
    assert_eq!(statuses.len(), total);
    for (i, s) in statuses.iter().enumerate() {
        assert!(s.iter().all(|v| v == "1"), "tshark: frame {i} ({:?}): {s:?}", runs[i / per_run]);
    }
    for (n, run) in frames.chunks(per_run).enumerate() {
        let lens: Vec<usize> = run.iter().map(Vec::len).collect();
        let (small, big) = (*lens.iter().min().unwrap(), *lens.iter().max().unwrap());
        let count = |len: usize| lens.iter().filter(|&&l| l == len).count();
        let middle = lens.iter().find(|&&l| l != small && l != big).copied().unwrap();
        // A VLAN tag may come back stripped to metadata: lengths as captured.
        assert_eq!((count(small), count(middle), count(big)), (168, 96, 24), "{:?}: 7:4:1", runs[n]);
        let ports: HashSet<u16> = run.iter().map(|f| src_port(f)).collect();
        assert_eq!(ports.len(), 5, "{:?}", runs[n]);
    }
    let _ = std::fs::remove_file(path);
}

/// Frames counted by the xdp sink on dut0 while `gen` runs.
fn sink_count(lab: &Lab, gen_args: &[&str]) -> (serde_json::Value, u64) {
    let sink = Proc::spawn(lab.dataplane("dut", &["sink", "--iface", "dut0", "--json"]), "sink");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the sink did not attach");
    std::thread::sleep(Duration::from_millis(200));
    let report = live(lab, gen_args);
    std::thread::sleep(Duration::from_millis(300));
    let out = sink.finish(libc::SIGINT, Duration::from_secs(10));
    let got = last_json(&text(&out.stdout));
    (report, got["packets"].as_u64().unwrap())
}

#[test]
fn live_pacing_holds_the_rate_within_two_percent() {
    if !require_root("live_pacing_holds_the_rate_within_two_percent") {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    for rate in [10_000u64, 100_000, 1_000_000] {
        let r = rate.to_string();
        let (report, arrived) = sink_count(&lab, &["--rate", &r, "--duration", "1"]);
        let seconds = report["seconds"].as_f64().unwrap();
        let want = rate as f64 * seconds;
        let off = (arrived as f64 - want).abs() / want;
        assert!(off < 0.02, "{rate} pps for {seconds:.3} s: {arrived} arrived, {:.2}% off: {report}", off * 100.0);
        assert_eq!(arrived, report["sent"].as_u64().unwrap(), "sent counts what left: {report}");
    }
}

#[test]
fn live_bursts_keep_the_average_rate_and_count_what_left() {
    if !require_root("live_bursts_keep_the_average_rate_and_count_what_left") {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    // Bursts of 2000 into a 256-slot ring: the veth refuses some, and `sent` says so.
    let (report, arrived) = sink_count(&lab, &["--rate", "100000", "--burst", "2000", "--duration", "1"]);
    let generated = report["generated"].as_u64().unwrap();
    let seconds = report["seconds"].as_f64().unwrap();
    let want = 100_000.0 * seconds;
    assert!((generated as f64 - want).abs() / want < 0.05, "{generated} generated in {seconds} s: {report}");
    assert_eq!(arrived, report["sent"].as_u64().unwrap(), "{report}");
}

#[test]
fn live_engine_says_when_the_peer_takes_nothing() {
    if !require_root("live_engine_says_when_the_peer_takes_nothing") {
        return;
    }
    let _guard = lock();
    let lab = Lab::up("zg");
    let _ = lab.command("dut", "ethtool", &["-K", "dut0", "gro", "off"]).output();
    let out =
        lab.dataplane("gen", &["gen", "--iface", "gen0", "--engine", "live", "--count", "1000"]).output().unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("took none of"), "{}", text(&out.stderr));
    let links = Command::new("ip").args(["-n", &lab.ns("gen"), "link", "show"]).output().unwrap();
    assert!(!text(&links.stdout).contains("dpgen"), "the ifb is removed on error too");
}
