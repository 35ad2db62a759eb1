//! `--csum offload` on veth, as root: UDP, TCP, VXLAN and Geneve frames (IPv4 and IPv6), each
//! sent with one wrong checksum, forwarded by `dataplane run --csum offload` from dut0 to
//! dut1 and captured at sink0 (tcpdump, a packet socket: the bytes as they crossed the veth).
//!
//! The dataplane computes the IPv4 header sums and a tunnel's outer UDP checksum (by LCO)
//! itself, writes only the pseudo-header sum into the innermost UDP/TCP checksum field and
//! asks for the rest through AF_XDP TX metadata. In copy mode the kernel turns that request
//! into an skb with `CHECKSUM_PARTIAL` (`xsk_skb_metadata` in net/xdp/xsk.c: `csum_start`,
//! `csum_offset`). Three ways it can end, one test each:
//!
//! - `tx_sw_csum=1` (the UMEM registered with `XDP_UMEM_TX_SW_CSUM`): the kernel completes
//!   the checksum on the CPU as it builds the skb (`skb_checksum_help` in
//!   `xsk_skb_metadata`); tshark at the sink finds every checksum good.
//! - `ethtool -K dut1 tx-checksumming off`: the skb leaves `CHECKSUM_PARTIAL`, and the
//!   transmit path (`validate_xmit_skb`), seeing a device without checksum offload, completes
//!   it with `skb_checksum_help`; tshark finds every checksum good.
//! - tx-checksumming on (veth's default, NETIF_F_HW_CSUM): nobody completes it. veth hands
//!   the skb to its peer as it is (`veth_forward_skb`: still `CHECKSUM_PARTIAL`, which a
//!   local receiver would trust), so the capture at sink0 shows what the dataplane wrote:
//!   the innermost L4 field holds exactly the pseudo-header sum (checked against a plain
//!   reference), tshark calls that checksum bad, and so the outer UDP checksum of a tunnel,
//!   which LCO computed for the completed inner one; completing the inner one in software
//!   (what the device would do) makes every checksum good. This proves the checksum was
//!   left to the device, not computed by the dataplane.
//!
//! In every case the dataplane counts each frame as sent with a checksum request
//! (`tx_csum_offload`) and none as completed in software. Two more: the request written in
//! front of frames an encapsulation grew, and of mirror copies with no headroom at all; and
//! (no root) a pcap port, which cannot ask a device, writing what `--csum lco` writes.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use wire::checks::{self, CsumLayer, L4Request, Status};
use wire::{L3Kind, L4Kind, WalkConfig};

/// The templates sent, each IPv4 and IPv6.
const TEMPLATES: [&str; 4] = ["udp", "tcp", "vxlan", "geneve"];
const PER_CASE: u64 = 40;
/// Frames of a run of every template.
const CASES: u64 = 2 * TEMPLATES.len() as u64 * PER_CASE;

/// Wireshark's checksum statuses (PROTO_CHECKSUM_E_* in epan/proto.h).
const TSHARK_BAD: &str = "0";
const TSHARK_GOOD: &str = "1";

/// How the requested checksum is completed, if at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Completion {
    /// `tx_sw_csum=1`: the kernel, at skb build.
    UmemSwCsum,
    /// `ethtool -K dut1 tx-checksumming off`: the kernel's transmit path.
    DeviceWithoutOffload,
    /// Nobody: veth carries the partial sum to its peer.
    None,
}

/// The dataplane's final stats line and the frames captured at sink0.
struct Run {
    dut: serde_json::Value,
    frames: Vec<Vec<u8>>,
    capture: std::path::PathBuf,
    /// Frames sent (and expected at the sink).
    cases: u64,
    _dir: TempDir,
}

/// What else the dataplane is told, and which templates are sent.
struct Setup<'a> {
    completion: Completion,
    templates: &'a [&'a str],
    /// Extra `run` arguments (`{dir}` becomes the run's scratch directory).
    dut_args: &'a [&'a str],
    /// A rule file written to `{dir}/offload.rules` first.
    rules: Option<&'a str>,
}

impl Setup<'_> {
    fn plain(completion: Completion) -> Setup<'static> {
        Setup { completion, templates: &TEMPLATES, dut_args: &[], rules: None }
    }
}

/// One polling dataplane at a time (see tests/veth.rs: spinning workers sharing a core).
static TRAFFIC: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn forward(setup: Setup<'_>) -> Run {
    let _serial = TRAFFIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let completion = setup.completion;
    let cases = 2 * setup.templates.len() as u64 * PER_CASE;
    let lab = Lab::up("of");
    let dir = TempDir::new("csum-offload", &format!("{completion:?}"));
    let (capture, stats) = (dir.path("sink0.pcap"), dir.path("stats.jsonl"));
    if let Some(rules) = setup.rules {
        std::fs::write(dir.path("offload.rules"), rules).unwrap();
    }
    let run = |role: &str, program: &str, args: &[&str]| {
        let out = lab.command(role, program, args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", text(&out.stderr));
    };
    // One frame in, one frame out: no GRO merging segments before the capture.
    run("sink", "ethtool", &["-K", "sink0", "gro", "off"]);
    if completion == Completion::DeviceWithoutOffload {
        run("dut", "ethtool", &["-K", "dut1", "tx-checksumming", "off"]);
    }
    let tcpdump = Proc::spawn(
        lab.command("sink", "tcpdump", &["-i", "sink0", "-nn", "-U", "-s", "0", "-w", capture.to_str().unwrap()]),
        "tcpdump",
    );
    assert!(
        testkit::wait_until(Duration::from_secs(5), || std::fs::metadata(&capture).is_ok_and(|m| m.len() >= 24)),
        "tcpdump did not start"
    );
    let devargs = if completion == Completion::UmemSwCsum { ",tx_sw_csum=1" } else { "" };
    let (port0, port1) = (format!("af_xdp:iface=dut0{devargs}"), format!("af_xdp:iface=dut1{devargs}"));
    let core = dut_core();
    let stats_path = stats.to_str().unwrap();
    let mut args = vec!["run", "--cores", &core, "--port", &port0, "--port", &port1, "--action", "fwd"];
    args.extend(["--csum", "offload", "--stats-interval", "0.2", "--stats-json", stats_path]);
    let extra: Vec<String> = setup.dut_args.iter().map(|a| a.replace("{dir}", dir.dir().to_str().unwrap())).collect();
    args.extend(extra.iter().map(String::as_str));
    let dut = Proc::spawn(lab.dataplane("dut", &args), "dataplane run");
    assert!(lab.wait_xdp("dut", "dut0", true, Duration::from_secs(5)), "the dataplane did not attach to dut0");
    for &template in setup.templates {
        for ipv6 in [false, true] {
            let count = PER_CASE.to_string();
            let mut args = vec!["gen", "--iface", "gen0", "--template", template, "--count", &count, "--rate", "2000"];
            // Every frame with one wrong checksum (each layer in turn): what leaves is the
            // dataplane's work. 200 bytes: no Ethernet padding after any packet.
            args.extend(["--size", "200", "--bad-csum", "100", "--core", "0"]);
            if ipv6 {
                args.push("--ipv6");
            }
            let out = lab.dataplane("gen", &args).output().unwrap();
            assert!(out.status.success(), "gen {args:?}: {}", text(&out.stderr));
        }
    }
    let forwarded = || {
        std::fs::read_to_string(&stats)
            .ok()
            .and_then(|all| all.lines().rev().find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()))
    };
    let done = testkit::wait_until(Duration::from_secs(10), || {
        forwarded().is_some_and(|line| line["ports"][1]["tx"].as_u64() == Some(cases))
    });
    assert!(done, "not every frame was forwarded: {:?}", forwarded());
    let out = dut.finish(libc::SIGINT, Duration::from_secs(10));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "dataplane run: {stderr}");
    // Each port said at start how its requests go.
    let how = match completion {
        Completion::UmemSwCsum => "the kernel computes each on the CPU (tx_sw_csum=1)",
        _ => "the skb leaves CHECKSUM_PARTIAL",
    };
    for port in ["dut0", "dut1"] {
        let line = format!("dataplane: af_xdp:{port}/q0: L4 checksums requested through AF_XDP TX metadata; {how}");
        assert!(stderr.contains(&line), "no notice for {port}: {stderr}");
    }
    // Let the last frames reach the capture.
    let arrived = testkit::wait_until(Duration::from_secs(5), || {
        pmd::pcap::read_capture(&capture).is_ok_and(|frames| frames.len() as u64 >= cases)
    });
    let tcpdump = tcpdump.finish(libc::SIGINT, Duration::from_secs(5));
    assert!(arrived, "capture short: {}", text(&tcpdump.stderr));
    let dut = last_json(&std::fs::read_to_string(&stats).unwrap());
    let frames = pmd::pcap::read_capture(&capture).unwrap();
    Run { dut, frames, capture, cases, _dir: dir }
}

/// Each frame's checksum statuses as tshark reads them (`ip`, `udp`, `tcp`), every
/// occurrence (outer, then inner).
fn tshark_statuses(capture: &Path) -> Vec<Vec<String>> {
    let mut args: Vec<String> = vec!["-n".into(), "-r".into(), capture.display().to_string()];
    for option in ["ip.check_checksum:TRUE", "udp.check_checksum:TRUE", "tcp.check_checksum:TRUE"] {
        args.extend(["-o".to_string(), option.to_string()]);
    }
    args.extend(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"].map(String::from));
    for field in ["ip.checksum.status", "udp.checksum.status", "tcp.checksum.status"] {
        args.extend(["-e".to_string(), field.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().expect("running tshark");
    assert!(out.status.success(), "tshark: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| line.split(['\t', ',']).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .collect()
}

/// The dataplane's books: every frame forwarded with a checksum request, none completed
/// in software.
fn assert_every_frame_asked_the_device(run: &Run) {
    let (dut, cases) = (&run.dut, run.cases);
    assert_eq!(dut["final"], true, "{dut}");
    assert_eq!(dut["totals"]["rx"], cases, "{dut}");
    assert_eq!(dut["ports"][1]["tx"], cases, "{dut}");
    assert_eq!(dut["ports"][1]["tx_csum_offload"], cases, "{dut}");
    assert_eq!(dut["workers"][0]["tx_csum_offload"], cases, "{dut}");
    assert_eq!(dut["workers"][0]["tx_csum_software"], 0, "{dut}");
    assert_eq!(dut["ports"][1]["sockets"][0]["xdp"]["tx_invalid_descs"], 0, "{dut}");
}

/// Every checksum of every frame good, by tshark and by the project's own verify.
fn assert_all_good(run: &Run) {
    assert_eq!(run.frames.len() as u64, run.cases);
    let rows = tshark_statuses(&run.capture);
    assert_eq!(rows.len() as u64, run.cases);
    for (i, row) in rows.iter().enumerate() {
        // One status per IPv4 header and per UDP/TCP header, outer and inner.
        let offsets = wire::walk(&run.frames[i], &WalkConfig::default()).unwrap();
        let headers = [Some(&offsets.outer), offsets.inner.as_ref()];
        let ipv4 = headers.iter().flatten().filter(|h| h.l3.is_some_and(|l3| l3.kind == L3Kind::Ipv4)).count();
        let l4 = headers.iter().flatten().filter(|h| h.l4.is_some()).count();
        assert_eq!(row.len(), ipv4 + l4, "frame {i}: {row:?}");
        assert!(row.iter().all(|s| s == TSHARK_GOOD), "frame {i}: {row:?}");
    }
    for (i, frame) in run.frames.iter().enumerate() {
        let offsets = wire::walk(frame, &WalkConfig::default()).unwrap();
        let verdicts = checks::verdicts(frame, &offsets);
        assert!(!verdicts.0.contains(&Status::Bad), "frame {i}: {verdicts:?}");
        assert!(verdicts.0.contains(&Status::Good), "frame {i}: {verdicts:?}");
    }
}

#[test]
fn offload_with_tx_sw_csum_leaves_every_checksum_good() {
    if !require_root("offload_with_tx_sw_csum_leaves_every_checksum_good")
        || !testkit::require_tool("csum_offload", "tshark")
    {
        return;
    }
    let run = forward(Setup::plain(Completion::UmemSwCsum));
    assert_every_frame_asked_the_device(&run);
    assert_all_good(&run);
}

#[test]
fn offload_through_a_device_without_checksum_offload_leaves_every_checksum_good() {
    if !require_root("offload_through_a_device_without_checksum_offload_leaves_every_checksum_good")
        || !testkit::require_tool("csum_offload", "tshark")
    {
        return;
    }
    let run = forward(Setup::plain(Completion::DeviceWithoutOffload));
    assert_every_frame_asked_the_device(&run);
    assert_all_good(&run);
}

#[test]
fn offload_leaves_only_the_pseudo_header_sum_which_veth_carries_to_its_peer() {
    if !require_root("offload_leaves_only_the_pseudo_header_sum_which_veth_carries_to_its_peer")
        || !testkit::require_tool("csum_offload", "tshark")
    {
        return;
    }
    let run = forward(Setup::plain(Completion::None));
    assert_every_frame_asked_the_device(&run);
    assert_eq!(run.frames.len() as u64, CASES);
    let rows = tshark_statuses(&run.capture);
    let mut tunnels = 0;
    for (i, frame) in run.frames.iter().enumerate() {
        let offsets = wire::walk(frame, &WalkConfig::default()).unwrap();
        let innermost = offsets.inner.as_ref().unwrap_or(&offsets.outer);
        let (l3, l4) = (innermost.l3.unwrap(), innermost.l4.unwrap());
        let offset = match l4.kind {
            L4Kind::Udp => 6,
            L4Kind::Tcp => 16,
            other => panic!("frame {i}: {other:?}"),
        };
        let field = u16::from_be_bytes([frame[l4.offset + offset], frame[l4.offset + offset + 1]]);
        assert_eq!(
            field,
            wire::csum::reference::pseudo_header_sum(frame, &l3, l4.offset),
            "frame {i}: only the pseudo-header sum"
        );
        let verdicts = checks::verdicts(frame, &offsets);
        let (inner, outer) = if offsets.inner.is_some() {
            tunnels += 1;
            (CsumLayer::InnerL4, Some(CsumLayer::OuterL4))
        } else {
            (CsumLayer::OuterL4, None)
        };
        assert_eq!(verdicts.get(inner), Status::Bad, "frame {i}: the partial sum is not a checksum");
        // The outer UDP checksum covers the inner one as the device would complete it.
        if let Some(outer) = outer {
            assert_eq!(verdicts.get(outer), Status::Bad, "frame {i}: {verdicts:?}");
        }
        for layer in [CsumLayer::OuterL3, CsumLayer::InnerL3] {
            assert_ne!(verdicts.get(layer), Status::Bad, "frame {i}: IPv4 sums are the dataplane's");
        }
        assert!(rows[i].contains(&TSHARK_BAD.to_string()), "tshark sees the partial sum, frame {i}: {:?}", rows[i]);
        // The device's part, done here: every checksum good.
        let mut completed = frame.clone();
        checks::complete(&mut completed, L4Request { start: l4.offset, offset });
        let verdicts = checks::verdicts(&completed, &offsets);
        assert!(!verdicts.0.contains(&Status::Bad), "frame {i} completed: {verdicts:?}");
    }
    assert_eq!(tunnels, CASES / 2, "VXLAN and Geneve, half the frames");
}

/// An encapsulation grows each frame into its headroom before the metadata is written in
/// front of it: the frames leave as VXLAN, the inner (the original) UDP or TCP checksum
/// left to the kernel (`tx_sw_csum=1`), the outer UDP one by LCO; every checksum good.
#[test]
fn offload_after_an_encapsulation_leaves_every_checksum_good() {
    if !require_root("offload_after_an_encapsulation_leaves_every_checksum_good")
        || !testkit::require_tool("csum_offload", "tshark")
    {
        return;
    }
    let run = forward(Setup {
        completion: Completion::UmemSwCsum,
        templates: &["udp", "tcp"],
        dut_args: &["--rewrite", "encap:vxlan,src=198.18.1.1,dst=198.18.1.2,vni=42"],
        rules: None,
    });
    assert_every_frame_asked_the_device(&run);
    assert_all_good(&run);
    for (i, frame) in run.frames.iter().enumerate() {
        let offsets = wire::walk(frame, &WalkConfig::default()).unwrap();
        assert!(offsets.tunnel.is_some_and(|t| t.kind == wire::TunnelKind::Vxlan), "frame {i} is not VXLAN");
    }
}

/// A mirror copy starts at its chunk's first byte: no room for the 24 bytes of metadata, so
/// the port moves its data further into the chunk before sending (the kernel would refuse
/// the descriptor: `tx_invalid_descs`). Every copy reaches the sink with its checksums
/// completed by a device without checksum offload (`skb_checksum_help`).
#[test]
fn offload_of_mirror_copies_without_headroom_leaves_every_checksum_good() {
    if !require_root("offload_of_mirror_copies_without_headroom_leaves_every_checksum_good")
        || !testkit::require_tool("csum_offload", "tshark")
    {
        return;
    }
    let run = forward(Setup {
        completion: Completion::DeviceWithoutOffload,
        templates: &TEMPLATES,
        dut_args: &["--rules", "{dir}/offload.rules"],
        rules: Some("prio 1 action mirred egress mirror dev dut1 pipe action drop\n"),
    });
    assert_every_frame_asked_the_device(&run);
    assert_eq!(run.dut["totals"]["mirrored"], run.cases, "{}", run.dut);
    assert_eq!(run.dut["drops"]["rule"], run.cases, "the originals: {}", run.dut);
    assert_all_good(&run);
}

/// A pcap port has no device to ask: it says so at start, and what it writes under
/// `--csum offload` is byte for byte what `--csum lco` writes (every template, each frame
/// with one wrong checksum going in). No root needed.
#[test]
fn a_pcap_port_says_it_cannot_offload_and_writes_what_lco_writes() {
    let dir = TempDir::new("csum-offload", "pcap");
    let mut outputs = Vec::new();
    for template in ["udp", "tcp", "vxlan", "geneve", "gre"] {
        for ipv6 in [false, true] {
            let input = dir.path(&format!("{template}-{ipv6}.pcap"));
            let mut args = vec!["gen", "--pcap", input.to_str().unwrap(), "--template", template, "--count", "12"];
            args.extend(["--bad-csum", "100", "--size", "300"]);
            if ipv6 {
                args.push("--ipv6");
            }
            let out = Command::new(DATAPLANE).args(&args).output().unwrap();
            assert!(out.status.success(), "gen {args:?}: {}", text(&out.stderr));
            let mut written = Vec::new();
            for mode in ["lco", "offload"] {
                let output = dir.path(&format!("{template}-{ipv6}-{mode}.pcap"));
                let port = format!("pcap:rx={},tx={}", input.display(), output.display());
                let out = Command::new(DATAPLANE)
                    .args(["run", "--cores", "0", "--stats-interval", "0", "--action", "reflect", "--csum", mode])
                    .args(["--port", &port])
                    .output()
                    .unwrap();
                let stderr = text(&out.stderr);
                assert!(out.status.success(), "{mode}: {stderr}");
                let notice = format!(
                    "dataplane: pcap:{}: no device to ask for checksums; --csum lco for this port",
                    input.display()
                );
                assert_eq!(stderr.contains(&notice), mode == "offload", "{mode}: {stderr}");
                written.push(pmd::pcap::read_capture(&output).unwrap());
            }
            assert_eq!(written[0].len(), 12, "{template} {ipv6}");
            assert_eq!(written[1], written[0], "{template} ipv6={ipv6}: offload wrote other bytes than lco");
            outputs.extend(written.pop().unwrap());
        }
    }
    // And those bytes have every checksum right (reflect swaps the MACs only).
    for (i, frame) in outputs.iter().enumerate() {
        let offsets = wire::walk(frame, &WalkConfig::default()).unwrap();
        let verdicts = checks::verdicts(frame, &offsets);
        assert!(!verdicts.0.contains(&Status::Bad), "frame {i}: {verdicts:?}");
    }
}
