//! Jumbo frames by multi-buffer (`XDP_USE_SG`), as root on veth: a topology at MTU 9000
//! (`mba` <-> `mbd0`, `mbd1` <-> `mbb`, one namespace of its own), frames of 1500, 4000,
//! 9000 and 9014 bytes sent by trafgen into `mba`, forwarded by `dataplane run --action fwd`
//! from `mbd0` to `mbd1` with 2048- and 4096-byte chunks, and captured by tcpdump on `mbb`:
//! every frame arrives, byte for byte (reflected too: back out of `mbd0`, MACs swapped,
//! captured on `mba`), the dataplane's counters add up (received =
//! forwarded + drops, multi-buffer packets counted on both sides), and `mb=0` with that MTU
//! is refused at start, naming the MTU and the chunk size.

mod common;

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use common::*;
use pcap_file::pcap::PcapReader;
use serde_json::Value;
use testkit::frames::GeneratorFrame;
use testkit::{require_tool, Netns};

const MTU: &str = "9000";
/// Frames of each size sent (paced: every one must arrive).
const EACH: usize = 100;
const SIZES: [usize; 4] = [1500, 4000, 9000, 9014];
const SRC_MAC: [u8; 6] = [0x02, 0x6d, 0x62, 0, 0, 1];

/// One polling dataplane at a time (as in veth.rs): two spinning workers on one core starve
/// each other's fill rings, and "every frame arrives" would be flaky.
static TRAFFIC: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The namespace and its two veth pairs at MTU 9000, IPv6 off (no stray frames).
fn topology() -> Netns {
    let netns = Netns::new("mb");
    netns.disable_ipv6();
    netns.add_veth_pair("mba", "mbd0", 1);
    netns.add_veth_pair("mbd1", "mbb", 1);
    for dev in ["mba", "mbd0", "mbd1", "mbb"] {
        netns.ip(&["link", "set", dev, "mtu", MTU]);
    }
    netns
}

/// Distinct frames of every size: UDP with right checksums, each payload byte numbered, so a
/// chunk put in the wrong place or a byte lost shows.
fn frames() -> Vec<Vec<u8>> {
    SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let mut frame =
                GeneratorFrame { size, dst_port: 7000 + i as u16, src_mac: SRC_MAC, ..GeneratorFrame::udp() }.build();
            assert_eq!(frame.len(), size);
            // After the headers (Ethernet 14 + IPv4 20 + UDP 8): a pattern, checksum fixed below.
            for (j, byte) in frame[42..].iter_mut().enumerate() {
                *byte = (j * 7 + i) as u8;
            }
            let udp_len = frame.len() - 34;
            frame[40..42].copy_from_slice(&[0, 0]);
            let sum = testkit::frames::ipv4_l4_checksum(
                std::net::Ipv4Addr::new(frame[26], frame[27], frame[28], frame[29]),
                std::net::Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]),
                17,
                &frame[34..34 + udp_len],
            );
            frame[40..42].copy_from_slice(&sum.to_be_bytes());
            frame
        })
        .collect()
}

/// A trafgen configuration sending `frames` round robin.
fn trafgen_config(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|frame| {
            let bytes: Vec<String> = frame.iter().map(|b| format!("0x{b:02x}")).collect();
            format!("{{ {} }}\n", bytes.join(", "))
        })
        .collect()
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        assert_eq!(packet.data.len() as u32, packet.orig_len, "capture cut a frame");
        packets.push(packet.data.into_owned());
    }
    packets
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// One run at `frame=` `chunk`: send, forward, capture, compare, count.
/// One run at `frame=` `chunk` with `--action` `action` (`fwd`: out of `mbd1`, captured on
/// `mbb`; `reflect`: back out of `mbd0` with the MACs swapped, captured arriving on `mba`;
/// `rules`: `--action drop` with a rule redirecting UDP to `mbd1` and `--csum verify`, so
/// the classified engine walks, verifies and classifies every packet whole; `rule-list`: the
/// same through an action list, a policer that every frame conforms to (counting whole
/// packets) piped into the redirect).
fn forward_jumbo_frames(chunk: u32, action: &str) {
    let _one_at_a_time = TRAFFIC.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let netns = topology();
    let dir = TempDir::new("jumbo", &format!("mb-{chunk}-{action}"));
    let reflect = action == "reflect";
    let (config, capture, stats) = (dir.path("frames.cfg"), dir.path("sink.pcap"), dir.path("stats.jsonl"));
    let sent = frames();
    std::fs::write(&config, trafgen_config(&sent)).unwrap();

    let port = |iface: &str| format!("af_xdp:iface={iface},frame={chunk}");
    let (p0, p1) = (port("mbd0"), port("mbd1"));
    let rules = dir.path("redirect.rules");
    let rule = match action {
        "rule-list" => {
            "protocol ip ip_proto udp action police rate 100gbit burst 10m conform-exceed drop/pipe action mirred \
             egress redirect dev mbd1\n"
        }
        _ => "protocol ip ip_proto udp action mirred egress redirect dev mbd1\n",
    };
    std::fs::write(&rules, rule).unwrap();
    let rule_args = ["--action", "drop", "--rules", rules.to_str().unwrap(), "--csum", "verify"];
    let plain_args = ["--action", action];
    let action_args: &[&str] = if action.starts_with("rule") { &rule_args } else { &plain_args };
    let mut args = vec!["run", "--port", &p0, "--port", &p1];
    args.extend_from_slice(action_args);
    let core = dut_core();
    args.extend_from_slice(&["--cores", &core, "--stats-interval", "0.5", "--stats-json", stats.to_str().unwrap()]);
    let dut = Proc::spawn(netns.command(DATAPLANE, &args), "dataplane run");
    let attached = testkit::wait_until(Duration::from_secs(5), || netns.ip(&["link", "show", "mbd0"]).contains("xdp"));
    assert!(attached, "the dataplane did not attach to mbd0");

    let (sink, filter) =
        if reflect { ("mba", "ether dst 02:6d:62:00:00:01") } else { ("mbb", "ether src 02:6d:62:00:00:01") };
    let capture_arg = capture.to_str().unwrap();
    let tcpdump = Proc::spawn(
        netns.command(
            "tcpdump",
            &[
                "-i",
                sink,
                "-Q",
                "in",
                "-s",
                "0",
                "-B",
                "65536",
                "-U",
                "-n",
                "--immediate-mode",
                "-w",
                capture_arg,
                filter,
            ],
        ),
        "tcpdump",
    );
    // tcpdump writes the file's header once its socket is open.
    let listening =
        testkit::wait_until(Duration::from_secs(5), || std::fs::metadata(&capture).is_ok_and(|m| m.len() >= 24));
    assert!(listening, "tcpdump did not start");

    let count = (EACH * SIZES.len()).to_string();
    let out = netns
        .command(
            "trafgen",
            &["-i", config.to_str().unwrap(), "-o", "mba", "-n", &count, "-J", "-P", "1", "-t", "200us", "-q"],
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "trafgen: {}{}", text(&out.stdout), text(&out.stderr));

    // Wait until every frame went through (the dataplane's stats), then stop everything.
    let want = (EACH * SIZES.len()) as u64;
    let done = testkit::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&stats).ok().and_then(|all| all.lines().last().map(str::to_string)).is_some_and(
            |line| serde_json::from_str::<Value>(&line).is_ok_and(|v| v["totals"]["rx"].as_u64() >= Some(want)),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let dut_out = dut.finish(libc::SIGINT, Duration::from_secs(10));
    let dut_err = text(&dut_out.stderr);
    assert!(dut_out.status.success(), "dataplane run: {dut_err}");
    assert!(dut_err.contains("multi-buffer on (MTU 9000"), "{dut_err}");
    // Loaded with BPF_F_XDP_HAS_FRAGS, the program attaches natively at MTU 9000 (without the
    // flag veth refuses it: "Peer MTU is too large to set XDP").
    assert!(dut_err.contains("mbd0 attached (native XDP)"), "{dut_err}");
    let _ = tcpdump.finish(libc::SIGINT, Duration::from_secs(10));
    let last = last_json(&std::fs::read_to_string(&stats).unwrap());
    assert!(done, "the dataplane did not receive {want} frames: {last}");

    // Counters: every frame received on port 0 was forwarded on port 1, none dropped; the
    // multi-buffer ones (every size above one chunk's room) counted on both sides.
    assert_eq!(last["final"], true);
    let totals = &last["totals"];
    assert_eq!(n(&totals["rx"]), want, "{last}");
    assert_eq!(n(&totals["rx"]), n(&totals["tx"]) + n(&totals["dropped"]), "{last}");
    assert_eq!(n(&totals["dropped"]), 0, "{last}");
    let room = chunk as usize - 256;
    let multi = (SIZES.iter().filter(|&&s| s > room).count() * EACH) as u64;
    let ports = last["ports"].as_array().unwrap();
    let out = if reflect { 0 } else { 1 };
    assert_eq!((n(&ports[0]["rx"]), n(&ports[out]["tx"])), (want, want), "{last}");
    assert_eq!((n(&ports[0]["rx_mb"]), n(&ports[out]["tx_mb"])), (multi, multi), "{last}");
    let bytes = (SIZES.iter().sum::<usize>() * EACH) as u64;
    assert_eq!((n(&ports[0]["rx_bytes"]), n(&ports[out]["tx_bytes"])), (bytes, bytes), "{last}");
    for port in ports {
        assert_eq!((n(&port["bad_desc"]), n(&port["bad_completion"])), (0, 0), "{port}");
    }
    for worker in last["workers"].as_array().unwrap() {
        let frames = &worker["frames_at_exit"];
        assert_eq!(frames["lost"], 0, "chunks lost: {worker}");
        assert_eq!(n(&frames["free"]) + n(&frames["rx_lent"]), n(&frames["total"]), "{worker}");
    }

    // Every byte arrives: the capture holds exactly what was sent, in order.
    let captured = read_pcap(&capture);
    assert_eq!(captured.len(), sent.len() * EACH, "frames captured on mbb");
    for (i, frame) in captured.iter().enumerate() {
        let mut expected = sent[i % sent.len()].clone();
        if reflect {
            let (dst, src) = expected.split_at_mut(6);
            dst.swap_with_slice(&mut src[..6]);
        }
        let expected = &expected;
        assert_eq!(frame.len(), expected.len(), "frame {i}");
        assert!(frame == expected, "frame {i} ({} bytes) differs from what was sent", frame.len());
    }
}

#[test]
fn jumbo_frames_are_forwarded_whole_with_2048_byte_chunks() {
    if !require_root("jumbo_frames_are_forwarded_whole_with_2048_byte_chunks")
        || !require_tool("jumbo 2048", "trafgen")
        || !require_tool("jumbo 2048", "tcpdump")
    {
        return;
    }
    forward_jumbo_frames(2048, "fwd");
}

#[test]
fn jumbo_frames_are_verified_and_redirected_by_a_rule_whole() {
    if !require_root("jumbo_frames_are_verified_and_redirected_by_a_rule_whole")
        || !require_tool("jumbo rules", "trafgen")
        || !require_tool("jumbo rules", "tcpdump")
    {
        return;
    }
    forward_jumbo_frames(2048, "rules");
}

#[test]
fn jumbo_frames_go_through_an_action_list_whole() {
    if !require_root("jumbo_frames_go_through_an_action_list_whole")
        || !require_tool("jumbo rule list", "trafgen")
        || !require_tool("jumbo rule list", "tcpdump")
    {
        return;
    }
    forward_jumbo_frames(2048, "rule-list");
}

#[test]
fn jumbo_frames_are_reflected_whole() {
    if !require_root("jumbo_frames_are_reflected_whole")
        || !require_tool("jumbo reflect", "trafgen")
        || !require_tool("jumbo reflect", "tcpdump")
    {
        return;
    }
    forward_jumbo_frames(2048, "reflect");
}

#[test]
fn jumbo_frames_are_forwarded_whole_with_4096_byte_chunks() {
    if !require_root("jumbo_frames_are_forwarded_whole_with_4096_byte_chunks")
        || !require_tool("jumbo 4096", "trafgen")
        || !require_tool("jumbo 4096", "tcpdump")
    {
        return;
    }
    forward_jumbo_frames(4096, "fwd");
}

#[test]
fn mb_0_with_a_jumbo_mtu_is_refused_at_start() {
    if !require_root("mb_0_with_a_jumbo_mtu_is_refused_at_start") {
        return;
    }
    let netns = topology();
    for chunk in ["2048", "4096"] {
        let port = format!("af_xdp:iface=mbd0,frame={chunk},mb=0");
        let out = netns
            .command(DATAPLANE, &["run", "--port", &port, "--action", "drop", "--duration", "1"])
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(!out.status.success(), "mb=0 at MTU 9000 ran: {err}");
        assert!(err.contains("the MTU of mbd0 (9000) is larger than a"), "{err}");
        assert!(err.contains(&format!("{chunk}-byte frame")), "{err}");
        assert!(err.contains("mb=0 turns multi-buffer off"), "{err}");
        assert!(!netns.ip(&["link", "show", "mbd0"]).contains("xdp"), "left a program attached");
    }
}
