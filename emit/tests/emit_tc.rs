//! The tc emitters on a real kernel (root): for each target the kernel can run, frames built
//! to match rule k are counted by the kernel at rule k and dropped, forwarded or passed as
//! rule k says, the same answer as the reference classifier.
//!
//! Topology (two namespaces of this test): gen `g0` <-> dut `d0` (filters on d0 ingress);
//! dut `f0` <-> gen `s1` (the fwd port, counted at s1); dut `x0` <-> `x1` down (the dead end
//! that `drop` redirects to). IPv6 is off in gen and on f0/x0, so nothing but our frames
//! moves.

use emit::{compile_tc, EmitOptions, KernelCaps, Target, Tc, TcBatch};
use rules::key::IP_FLAG_FRAG;
use rules::rule::mac_u64;
use rules::{Action, Classifier, Family, Keys, Linear, Masked, PacketKey, PortMatch, Prefix, Protocol, Rule, RuleSet};
use testkit::frames::for_key;
use testkit::{require_root, require_tool, wait_until, Netns};

/// How long a counter may take to show what was sent (an event wait, not a timed assertion).
const EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

struct Lab {
    gen: Netns,
    dut: Netns,
    dut_mac: [u8; 6],
}

fn lab() -> Lab {
    let gen = Netns::new("g");
    gen.sysctl("net.ipv6.conf.all.disable_ipv6", "1");
    gen.sysctl("net.ipv6.conf.default.disable_ipv6", "1");
    let dut = Netns::new("d");
    gen.exec(&["ip", "link", "add", "g0", "type", "veth", "peer", "name", "d0", "netns", dut.name()]);
    gen.exec(&["ip", "link", "add", "s1", "type", "veth", "peer", "name", "f0", "netns", dut.name()]);
    dut.exec(&["ip", "link", "add", "x0", "type", "veth", "peer", "name", "x1"]);
    for dev in ["f0", "x0", "x1"] {
        dut.sysctl(&format!("net.ipv6.conf.{dev}.disable_ipv6"), "1");
    }
    for dev in ["g0", "s1"] {
        gen.exec(&["ip", "link", "set", dev, "up"]);
    }
    for dev in ["d0", "f0", "x0"] {
        dut.exec(&["ip", "link", "set", dev, "up"]);
    }
    let dut_mac = dut.mac("d0");
    Lab { gen, dut, dut_mac }
}

fn options(caps: KernelCaps) -> EmitOptions {
    let mut opts = EmitOptions::new("d0", caps);
    opts.ports = vec!["f0".into()];
    opts.drop_dev = Some("x0".into());
    opts
}

fn rule(line: usize, prio: u32, protocol: Protocol, keys: Keys, action: Action) -> Rule {
    Rule::new(line, prio, protocol, keys, action)
}

fn v4(a: [u8; 4]) -> u128 {
    u128::from(u32::from_be_bytes(a))
}

fn v6(a: [u16; 8]) -> u128 {
    a.iter().fold(0u128, |acc, &w| (acc << 16) | u128::from(w))
}

/// Ten rules mixing prefixes, ranges, protocols, both families, MACs, TOS, TTL, fragments,
/// and a catch-all that comes first in the file but last in matching order.
fn mixed_rules() -> RuleSet {
    let udp = Some(17);
    RuleSet::new(vec![
        rule(1, 9, Protocol::All, Keys::default(), Action::Fwd(0)),
        rule(
            2,
            1,
            Protocol::Ipv4,
            Keys {
                src_ip: Some(Prefix::v4([10, 1, 0, 0], 16)),
                ip_proto: udp,
                dst_port: Some(PortMatch::Range { lo: 1000, hi: 1999 }),
                ..Keys::default()
            },
            Action::Fwd(0),
        ),
        rule(
            3,
            1,
            Protocol::Ipv4,
            Keys {
                dst_ip: Some(Prefix::v4([192, 168, 7, 7], 32)),
                ip_proto: Some(6),
                tcp_flags: Some(Masked::<u16>::new(0x002, 0x012)),
                ..Keys::default()
            },
            Action::Drop,
        ),
        rule(
            4,
            1,
            Protocol::Ipv6,
            Keys {
                src_ip: Some(Prefix::v6(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]).to_be_bytes(), 32)),
                ip_proto: udp,
                dst_port: Some(PortMatch::exact(53)),
                ..Keys::default()
            },
            Action::Fwd(0),
        ),
        rule(
            5,
            1,
            Protocol::All,
            Keys { dst_port: Some(PortMatch::Range { lo: 8080, hi: 8081 }), ..Keys::default() },
            Action::Drop,
        ),
        rule(
            6,
            1,
            Protocol::Ipv4,
            Keys { ip_proto: Some(1), ip_ttl: Some(Masked::<u8>::exact(64)), ..Keys::default() },
            Action::Pass,
        ),
        rule(
            7,
            1,
            Protocol::Ipv4,
            Keys { src_mac: Some(Masked::<u64>::new(0x02aa_0000_0000, 0xffff_0000_0000)), ..Keys::default() },
            Action::Fwd(0),
        ),
        rule(
            8,
            1,
            Protocol::Ipv4,
            Keys {
                ip_tos: Some(Masked::<u8>::new(0x10, 0xfc)),
                ip_proto: udp,
                src_port: Some(PortMatch::exact(5000)),
                ..Keys::default()
            },
            Action::Drop,
        ),
        rule(
            9,
            1,
            Protocol::Ipv6,
            Keys { ip_proto: Some(6), src_port: Some(PortMatch::Range { lo: 1, hi: 1023 }), ..Keys::default() },
            Action::Pass,
        ),
        rule(
            10,
            1,
            Protocol::Ipv4,
            Keys {
                dst_ip: Some(Prefix::v4([172, 16, 0, 0], 12)),
                ip_flags: Some(Masked::<u8>::new(0, IP_FLAG_FRAG)),
                ..Keys::default()
            },
            Action::Drop,
        ),
    ])
}

/// Keys that the reference classifier puts at the given rule (checked in the test).
fn mixed_keys(dut_mac: [u8; 6]) -> Vec<(usize, PacketKey)> {
    let src_mac = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    let base = |family: Family, proto: u8, src: u128, dst: u128, sport: u16, dport: u16| PacketKey {
        has_l2: true,
        dst_mac: dut_mac,
        src_mac,
        family,
        ip_proto: proto,
        src_ip: src,
        dst_ip: dst,
        ip_ttl: 63,
        has_ports: matches!(proto, 6 | 17 | 132),
        src_port: sport,
        dst_port: dport,
        has_tcp_flags: proto == 6,
        tcp_flags: 0x010,
        ..PacketKey::default()
    };
    let v4k = |proto, src, dst, sport, dport| base(Family::V4, proto, v4(src), v4(dst), sport, dport);
    let db8 = v6([0x2001, 0xdb8, 1, 0, 0, 0, 0, 1]);
    let other6 = v6([0xfd00, 0, 0, 0, 0, 0, 0, 2]);
    vec![
        (1, v4k(17, [10, 1, 2, 3], [10, 9, 9, 9], 40000, 1000)),
        (1, v4k(17, [10, 1, 200, 3], [10, 9, 9, 9], 40000, 1999)),
        (2, PacketKey { tcp_flags: 0x002, ..v4k(6, [1, 1, 1, 1], [192, 168, 7, 7], 1234, 80) }),
        (3, base(Family::V6, 17, db8, other6, 3333, 53)),
        (4, v4k(6, [1, 1, 1, 1], [2, 2, 2, 2], 1234, 8081)),
        (4, base(Family::V6, 132, other6, db8, 7, 8080)),
        (5, PacketKey { ip_ttl: 64, ..v4k(1, [1, 1, 1, 1], [2, 2, 2, 2], 0, 0) }),
        (6, PacketKey { src_mac: [0x02, 0xaa, 1, 2, 3, 4], ..v4k(17, [1, 1, 1, 1], [2, 2, 2, 2], 9, 9) }),
        (7, PacketKey { ip_tos: 0x12, ..v4k(17, [1, 1, 1, 1], [2, 2, 2, 2], 5000, 9) }),
        (8, base(Family::V6, 6, other6, other6, 1023, 80)),
        (9, v4k(17, [1, 1, 1, 1], [172, 20, 0, 1], 9, 9)),
        // A later fragment: no ports, so not rule 1 even though its payload starts with
        // bytes that read as port 1000.
        (
            0,
            PacketKey {
                ip_flags: IP_FLAG_FRAG,
                has_ports: false,
                ..v4k(17, [10, 1, 2, 3], [10, 9, 9, 9], 40000, 1000)
            },
        ),
        (0, PacketKey { has_l2: true, dst_mac: dut_mac, src_mac, ..PacketKey::default() }),
        (0, base(Family::V6, 6, other6, other6, 1024, 80)),
    ]
}

/// What the DUT's counters say after a frame.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    hits: Vec<Option<u64>>,
    forwarded: u64,
    passed: (u64, u64),
}

fn seen(lab: &Lab, batch: &TcBatch) -> Seen {
    Seen {
        hits: Tc::in_netns(lab.dut.name()).rule_hits(batch).expect("tc counters"),
        forwarded: lab.gen.rx_packets("s1"),
        passed: lab.dut.ip_in_receives(),
    }
}

/// Applies the batch, sends each key's frame `COPIES` times (IPv4 both without and with IP
/// options) and checks counters and disposition after each.
fn check_semantics(target: Target, set: &RuleSet, keys: &[(usize, PacketKey)], lab: &Lab, caps: KernelCaps) {
    const COPIES: u64 = 3;
    let batch = compile_tc(set, target, &options(caps)).unwrap_or_else(|e| panic!("{target}: {e}"));
    Tc::in_netns(lab.dut.name()).apply(&batch.text).unwrap_or_else(|e| panic!("{target}: {e}\n{}", batch.text));
    let linear = Linear::new(set);
    for (want, key) in keys {
        assert_eq!(linear.classify(key), Some(*want), "the test's own key for rule {want}: {key:?}");
        let option_words: &[usize] = if key.family == Family::V4 { &[0, 3] } else { &[0] };
        for &words in option_words {
            let before = seen(lab, &batch);
            lab.gen.send("g0", &for_key(key, words), COPIES as usize);
            let rule = &set.rules[*want];
            let mut expected = before.clone();
            if let Some(hits) = expected.hits[*want].as_mut() {
                *hits += COPIES;
            }
            match rule.actions[0] {
                Action::Fwd(_) => expected.forwarded += COPIES,
                Action::Pass if key.family == Family::V4 => expected.passed.0 += COPIES,
                Action::Pass => expected.passed.1 += COPIES,
                _ => {}
            }
            let mut now = before.clone();
            let arrived = wait_until(EVENT_TIMEOUT, || {
                now = seen(lab, &batch);
                now == expected
            });
            assert!(
                arrived,
                "{target}: frame for rule {want} (line {}, {} IPv4 option words): expected {expected:?}, saw {now:?}\n{key:?}\n{}",
                rule.line, words, batch.text
            );
        }
    }
}

#[test]
fn mixed_rules_are_counted_and_disposed_at_the_right_rule() {
    let test = "mixed_rules_are_counted_and_disposed_at_the_right_rule";
    if !require_root(test) || !require_tool(test, "mausezahn") {
        return;
    }
    let caps = KernelCaps::running().expect("kernel probe");
    eprintln!("{test}: the kernel lacks {:?}", caps.missing());
    let set = mixed_rules();
    for target in [Target::TcU32, Target::TcFlower] {
        if let Err(why) = caps.can_apply(target) {
            // The batch is still written, with the reason in its notes.
            let batch = compile_tc(&set, target, &options(caps)).expect("batch");
            assert!(batch.notes.contains(&why.to_string()) || target == Target::TcU32, "{:?}", batch.notes);
            eprintln!("{test}: {target} not run: {why}");
            continue;
        }
        let lab = lab();
        let keys = mixed_keys(lab.dut_mac);
        check_semantics(target, &set, &keys, &lab, caps);
    }
}

/// The lab's rule-scaling shape: 1000 rules, each a /32 destination and a port range; the
/// first and the last rule match.
#[test]
fn a_thousand_rules_first_and_last() {
    let test = "a_thousand_rules_first_and_last";
    if !require_root(test) || !require_tool(test, "mausezahn") {
        return;
    }
    let caps = KernelCaps::running().expect("kernel probe");
    let set = RuleSet::new(
        (0..1000u32)
            .map(|i| {
                let keys = Keys {
                    ip_proto: Some(17),
                    dst_ip: Some(Prefix::v4([10, 20, (i >> 8) as u8, i as u8], 32)),
                    dst_port: Some(PortMatch::Range { lo: 1024, hi: 65535 }),
                    ..Keys::default()
                };
                rule(i as usize + 1, 1, Protocol::Ipv4, keys, Action::Drop)
            })
            .collect(),
    );
    let batch = compile_tc(&set, Target::TcU32, &options(caps)).expect("batch");
    assert_eq!(batch.expansion_factor, 6.0);
    let lab = lab();
    let key = |i: u32| PacketKey {
        has_l2: true,
        dst_mac: lab.dut_mac,
        ..PacketKey::ipv4_5tuple([1, 1, 1, 1], [10, 20, (i >> 8) as u8, i as u8], 17, 999, 4242)
    };
    let keys = vec![(0, key(0)), (999, key(999)), (500, key(500))];
    check_semantics(Target::TcU32, &set, &keys, &lab, caps);
}

/// Without cls_flower the flower batch cannot run, but iproute2 still parses every line
/// before asking the kernel: each line must fail only for the missing classifier, never for
/// its syntax.
#[test]
fn flower_batch_is_valid_tc_syntax() {
    let test = "flower_batch_is_valid_tc_syntax";
    if !require_root(test) {
        return;
    }
    let caps = KernelCaps::running().expect("kernel probe");
    if caps.cls_flower {
        eprintln!("{test}: this kernel has flower; the semantics test covers the batch");
        return;
    }
    let mut set = mixed_rules();
    // Keys only flower has: VLAN, enc_*, fragment tests u32 refuses.
    let extra = vec![
        rule(11, 1, Protocol::Vlan, Keys { vlan_id: Some(7), vlan_prio: Some(3), ..Keys::default() }, Action::Drop),
        rule(
            12,
            1,
            Protocol::Ipv4,
            Keys {
                enc_key_id: Some(42),
                enc_src_ip: Some(Prefix::v4([192, 0, 2, 0], 24)),
                enc_dst_ip: Some(Prefix::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 64)),
                enc_dst_port: Some(4789),
                ip_flags: Some(Masked::<u8>::new(1, 3)),
                ..Keys::default()
            },
            Action::Pass,
        ),
        rule(
            13,
            1,
            Protocol::All,
            Keys {
                dst_mac: Some(Masked::<u64>::new(mac_u64([1, 0, 0x5e, 0, 0, 0]), 0xffff_ff80_0000)),
                ip_tos: Some(Masked::<u8>::new(0xb8, 0xfc)),
                ip_proto: Some(47),
                ..Keys::default()
            },
            Action::Drop,
        ),
    ];
    set = RuleSet::new(set.rules.into_iter().chain(extra).collect());
    let batch = compile_tc(&set, Target::TcFlower, &options(caps)).expect("flower batch");
    let lab = lab();
    let output = std::process::Command::new("ip")
        .args(["netns", "exec", lab.dut.name(), "tc", "-force", "-b", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(batch.text.as_bytes())?;
            child.wait_with_output()
        })
        .expect("tc -force -b");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let failed = stderr.lines().filter(|l| l.starts_with("Command failed")).count();
    assert_eq!(failed, batch.filters, "every flower line fails, and only in the kernel:\n{stderr}\n{}", batch.text);
    for line in stderr.lines() {
        let kernel_said =
            ["Error: TC classifier not found", "We have an error talking to the kernel", "Command failed"];
        assert!(kernel_said.iter().any(|k| line.starts_with(k)), "tc rejected the syntax: {line}\n{}", batch.text);
    }
}
