//! The eBPF targets on a real veth: frames built to match rule k, sent into the interface
//! the programs are attached to, are counted by the kernel at rule k and dropped or
//! forwarded as rule k says.
//!
//! Topology, all in a network namespace of this test's own (unique name, deleted on drop):
//! `tx` -> `dut` (programs attached, ingress) and `fwd` -> `sink` (port 0 of `fwd 0`).
//! The test body runs in a child process started with `ip netns exec`, so it needs no
//! setns and its bpffs mount (pins) vanishes with it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use testkit::{require_root, run, wait_until, Netns};

use bpf::{Insn, Link, ProgType, Program, Reg, TestRunOptions, XdpMode};
use emit::bpf::frame::{build, FrameShape};
use emit::bpf::{compile_bpf, read_counters, remove, BpfOptions, BpfTarget, Counters};
use rules::{Action, Family, Keys, PacketKey, PortMatch, Prefix, Protocol, Rule, RuleSet};

const NETNS_ENV: &str = "EMIT_BPF_TEST_NETNS";
const TX: &str = "ebtx";
const DUT: &str = "ebdut";
const FWD: &str = "ebfwd";
const SINK: &str = "ebsink";
/// Each frame is sent this many times.
const COPIES: u32 = 5;
/// How long a counter may take to show what was sent (an event wait, not a timed assertion).
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The test's namespace, with `TX` <-> `DUT` and `FWD` <-> `SINK`; deleting it (on drop)
/// deletes the veths and everything attached.
fn topology() -> Netns {
    let netns = Netns::new("eb");
    // No IPv6 on the test's own interfaces (this namespace's sysctls only): their router
    // solicitations and MLD reports would be counted as forwarded frames.
    for scope in ["all", "default"] {
        netns.sysctl(&format!("net.ipv6.conf.{scope}.disable_ipv6"), "1");
    }
    for (a, b) in [(TX, DUT), (FWD, SINK)] {
        netns.exec(&["ip", "link", "add", a, "type", "veth", "peer", "name", b]);
        netns.exec(&["ip", "link", "set", a, "up"]);
        netns.exec(&["ip", "link", "set", b, "up"]);
    }
    netns
}

#[test]
fn every_bpf_target_counts_and_disposes_at_the_matching_rule() {
    if std::env::var_os(NETNS_ENV).is_some()
        || !require_root("every_bpf_target_counts_and_disposes_at_the_matching_rule")
    {
        return;
    }
    let netns = topology();
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("ip")
        .args(["netns", "exec", netns.name()])
        .arg(exe)
        .args(["--exact", "in_netns_body", "--nocapture", "--test-threads", "1"])
        .env(NETNS_ENV, netns.name())
        .status()
        .unwrap();
    assert!(status.success(), "the test body failed in namespace {} (output above)", netns.name());
}

fn rule(line: usize, protocol: Protocol, keys: Keys, action: Action) -> Rule {
    Rule::new(line, 1, protocol, keys, action)
}

fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

const V6_NET: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;

/// The rules, and for each a key whose frame matches it and no rule before it.
fn rules_and_keys() -> (RuleSet, Vec<PacketKey>) {
    let base = PacketKey {
        has_l2: true,
        src_mac: [0x02, 0, 0, 0, 0, 1],
        dst_mac: [0x02, 0, 0, 0, 0, 2],
        family: Family::V4,
        src_ip: v4([192, 168, 0, 1]),
        dst_ip: v4([192, 168, 0, 2]),
        ip_ttl: 64,
        ..PacketKey::default()
    };
    let udp = |dst_port| PacketKey { ip_proto: 17, has_ports: true, src_port: 40000, dst_port, ..base };
    let tcp_syn = |src_port, dst_port| PacketKey {
        ip_proto: 6,
        has_ports: true,
        src_port,
        dst_port,
        has_tcp_flags: true,
        tcp_flags: 0x002,
        ..base
    };
    let rules = vec![
        rule(
            1,
            Protocol::Ipv4,
            Keys { ip_proto: Some(17), dst_port: Some(PortMatch::exact(5000)), ..Keys::default() },
            Action::Drop,
        ),
        rule(
            2,
            Protocol::Ipv4,
            Keys {
                ip_proto: Some(6),
                dst_ip: Some(Prefix::v4([10, 1, 0, 0], 16)),
                src_port: Some(PortMatch::Range { lo: 1000, hi: 2000 }),
                ..Keys::default()
            },
            Action::Fwd(0),
        ),
        rule(
            3,
            Protocol::Ipv6,
            Keys {
                dst_ip: Some(Prefix::v6(V6_NET.to_be_bytes(), 32)),
                dst_port: Some(PortMatch::exact(53)),
                ..Keys::default()
            },
            Action::Drop,
        ),
        rule(4, Protocol::All, Keys { vlan_id: Some(42), ..Keys::default() }, Action::Fwd(0)),
        rule(
            5,
            Protocol::All,
            Keys { enc_key_id: Some(77), dst_port: Some(PortMatch::exact(80)), ..Keys::default() },
            Action::Drop,
        ),
    ];
    let keys = vec![
        udp(5000),
        PacketKey { dst_ip: v4([10, 1, 2, 3]), ..tcp_syn(1500, 443) },
        PacketKey { family: Family::V6, src_ip: V6_NET | 1, dst_ip: V6_NET | 0x53, ..udp(53) },
        PacketKey { has_vlan: true, vlan_id: 42, vlan_prio: 3, ..udp(9) },
        PacketKey {
            tunnel: true,
            has_enc_key_id: true,
            enc_key_id: 77,
            enc_family: Family::V4,
            enc_src_ip: v4([172, 16, 0, 1]),
            enc_dst_ip: v4([172, 16, 0, 2]),
            has_enc_dst_port: true,
            enc_dst_port: 4789,
            ..tcp_syn(33000, 80)
        },
    ];
    (RuleSet::new(rules), keys)
}

fn rx_packets(dev: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/sys/class/net/{dev}/statistics/rx_packets")).unwrap();
    text.trim().parse().unwrap()
}

fn returning(action: i32) -> Program {
    Program::load(ProgType::Xdp, "xdp_const", &[Insn::mov64_imm(Reg::R0, action), Insn::exit()]).unwrap()
}

/// Sends `frame` `COPIES` times out of `TX` (so into `DUT`) with a live-frames XDP_TX run.
fn send(sender: &Program, frame: &[u8]) {
    let ctx = bpf::xdp::XdpMd::for_frame(frame.len(), bpf::ifindex(TX).unwrap(), 0).to_bytes();
    sender
        .test_run_with(
            frame,
            &TestRunOptions {
                repeat: COPIES,
                flags: TestRunOptions::XDP_LIVE_FRAMES,
                ctx_in: Some(&ctx),
                ..Default::default()
            },
        )
        .unwrap();
}

/// The body, run inside the namespace by the test above.
#[test]
fn in_netns_body() {
    if std::env::var_os(NETNS_ENV).is_none() {
        return; // only meaningful inside the namespace
    }
    let (set, keys) = rules_and_keys();
    let linear = rules::Linear::new(&set);
    let sender = returning(bpf::xdp::TX);
    // Frames redirected into a veth need NAPI on its peer: an XDP program there gives it.
    let passer = returning(bpf::xdp::PASS);
    let _sink_napi = Link::attach_xdp(&passer, bpf::ifindex(SINK).unwrap(), XdpMode::Driver).unwrap();
    let opts = BpfOptions {
        ports: vec![FWD.to_owned()],
        pin_root: PathBuf::from("/sys/fs/bpf/dataplane-test"),
        ..BpfOptions::new(DUT)
    };
    let miss = PacketKey { ip_proto: 17, has_ports: true, src_port: 1, dst_port: 2, ..keys[0] };
    for target in [BpfTarget::Xdp, BpfTarget::TcBpf, BpfTarget::TcBpfPerRule] {
        // For the tc targets the frames sent into DUT also need NAPI there.
        let dut_napi = (target != BpfTarget::Xdp)
            .then(|| Link::attach_xdp(&passer, bpf::ifindex(DUT).unwrap(), XdpMode::Driver).unwrap());
        let compiled = compile_bpf(&set, target, &opts).unwrap_or_else(|err| panic!("{target}: {err}"));
        if let Some(batch) = &compiled.tc_batch {
            assert!(batch.contains("object-pinned"), "{batch}");
            let filters = run("tc", &["filter", "show", "dev", DUT, "ingress"]);
            assert_eq!(filters.matches("direct-action").count(), compiled.programs, "{filters}");
        }
        for (k, key) in keys.iter().enumerate() {
            assert_eq!(rules::Classifier::classify(&linear, key), Some(k), "the test's key {k} must match rule {k}");
            let before = read_counters(&opts, target).unwrap();
            let forwarded_before = rx_packets(SINK);
            send(&sender, &build(key, &FrameShape::default()));
            let counted_at_k = |c: &Counters| c.per_rule[k] == before.per_rule[k] + u64::from(COPIES);
            assert!(
                wait_until(EVENT_TIMEOUT, || counted_at_k(&read_counters(&opts, target).unwrap())),
                "{target}: rule {k} did not count {COPIES} frames: {:?} -> {:?}",
                before,
                read_counters(&opts, target).unwrap()
            );
            let after = read_counters(&opts, target).unwrap();
            for other in (0..set.len()).filter(|&i| i != k) {
                assert_eq!(
                    after.per_rule[other], before.per_rule[other],
                    "{target}: frame {k} counted at rule {other}"
                );
            }
            match set.rules[k].actions[0] {
                Action::Fwd(_) => assert!(
                    wait_until(EVENT_TIMEOUT, || rx_packets(SINK) >= forwarded_before + u64::from(COPIES)),
                    "{target}: rule {k} forwards, but {SINK} received {} of {COPIES}",
                    rx_packets(SINK) - forwarded_before
                ),
                _ => {
                    std::thread::sleep(Duration::from_millis(50));
                    assert_eq!(
                        rx_packets(SINK),
                        forwarded_before,
                        "{target}: rule {k} drops, yet frames reached {SINK}"
                    );
                }
            }
        }
        let before = read_counters(&opts, target).unwrap();
        send(&sender, &build(&miss, &FrameShape::default()));
        assert!(
            wait_until(EVENT_TIMEOUT, || read_counters(&opts, target).unwrap().no_match
                == before.no_match + u64::from(COPIES)),
            "{target}: unmatched frames not counted as no match"
        );
        remove(&opts, target).unwrap();
        assert!(!opts.pin_dir(target).exists(), "{target}: pins left behind");
        if target != BpfTarget::Xdp {
            let filters = run("tc", &["filter", "show", "dev", DUT, "ingress"]);
            assert!(!filters.contains("direct-action"), "{target}: filters left behind: {filters}");
        } else {
            let link = run("ip", &["-d", "link", "show", "dev", DUT]);
            assert!(
                wait_until(EVENT_TIMEOUT, || !run("ip", &["-d", "link", "show", "dev", DUT]).contains("prog/xdp")),
                "{link}"
            );
        }
        drop(dut_napi);
    }
}
