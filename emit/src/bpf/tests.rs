//! Differential tests: the generated programs, run on frames with BPF_PROG_TEST_RUN, must
//! give the verdict and count the rule that [`rules::Linear`] picks for the same key.

use super::frame::{build, FrameShape, Ipv6Ext};
use super::*;
use rules::key::{Family, PacketKey, IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::rule::{mac_u64, Keys, Masked, PortMatch, Prefix, Protocol, Rule};
use rules::{Classifier, Linear};
use testkit::require_root;

/// xorshift64*: deterministic, seedable, no dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

const MACS: [[u8; 6]; 3] = [[0x02, 0, 0, 0, 0, 1], [0x02, 0, 0, 0, 0, 2], [0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff]];
const VLANS: [u16; 3] = [1, 100, 4094];
const V4: [u32; 4] = [0x0a00_0001, 0x0a00_0102, 0xc0a8_0101, 0xac10_0504];
const V6: [u128; 3] = [
    0x2001_0db8_0000_0000_0000_0000_0000_0001,
    0x2001_0db8_0000_0001_0000_0000_0000_0002,
    0xfe80_0000_0000_0000_0000_0000_8000_0003,
];
const PORTS: [u16; 5] = [53, 80, 443, 8080, 1024];
const PROTOS: [u8; 4] = [6, 17, 132, 1];
const TOS: [u8; 3] = [0, 0x10, 0xb8];
const TTLS: [u8; 3] = [1, 64, 255];
const TCP_FLAGS: [u16; 3] = [0x002, 0x012, 0x010];
const VNIS: [u32; 3] = [1, 42, 0xabcdef];

fn random_prefix(rng: &mut Rng, family: Family) -> Prefix {
    if family == Family::V6 {
        let addr = rng.pick(&V6) ^ if rng.chance(20) { 1u128 << rng.below(128) } else { 0 };
        Prefix::v6(addr.to_be_bytes(), rng.pick(&[0, 48, 64, 100, 127]))
    } else {
        let addr = rng.pick(&V4) ^ if rng.chance(20) { 1u32 << rng.below(32) } else { 0 };
        Prefix::v4(addr.to_be_bytes(), rng.pick(&[0, 8, 16, 24, 31, 32]))
    }
}

fn random_port_match(rng: &mut Rng) -> PortMatch {
    let port = rng.pick(&PORTS);
    match rng.below(3) {
        0 => PortMatch::exact(port),
        1 => PortMatch::Masked(Masked::<u16>::new(port, rng.pick(&[0xff00, 0xfff0, 0]))),
        _ => PortMatch::Range {
            lo: port.saturating_sub(rng.below(100) as u16),
            hi: port.saturating_add(rng.below(3) as u16),
        },
    }
}

fn random_rule(rng: &mut Rng, line: usize, ports: usize) -> Rule {
    let family = if rng.chance(50) { Family::V4 } else { Family::V6 };
    let mut k = Keys::default();
    let p = 20;
    if rng.chance(p / 2) {
        k.src_mac = Some(Masked::<u64>::exact(mac_u64(rng.pick(&MACS))));
    }
    if rng.chance(p / 2) {
        k.dst_mac = Some(Masked::<u64>::new(mac_u64(rng.pick(&MACS)), 0xffff_ff00_0000));
    }
    if rng.chance(p) {
        k.vlan_id = Some(rng.pick(&VLANS));
    }
    if rng.chance(p / 2) {
        k.vlan_prio = Some(rng.below(8) as u8);
    }
    if rng.chance(p) {
        k.ip_proto = Some(rng.pick(&PROTOS));
    }
    if rng.chance(p) {
        k.src_ip = Some(random_prefix(rng, family));
    }
    if rng.chance(p) {
        k.dst_ip = Some(random_prefix(rng, family));
    }
    if rng.chance(p) {
        k.src_port = Some(random_port_match(rng));
    }
    if rng.chance(p) {
        k.dst_port = Some(random_port_match(rng));
    }
    if rng.chance(p / 2) {
        k.ip_tos = Some(Masked::<u8>::new(rng.pick(&TOS), rng.pick(&[0xff, 0xfc])));
    }
    if rng.chance(p / 2) {
        k.ip_ttl = Some(Masked::<u8>::exact(rng.pick(&TTLS)));
    }
    if rng.chance(p / 2) {
        k.tcp_flags = Some(Masked::<u16>::new(rng.pick(&TCP_FLAGS), rng.pick(&[0x0fff, 0x002])));
    }
    if rng.chance(p / 2) {
        k.ip_flags = Some(Masked::<u8>::new(rng.below(4) as u8, rng.pick(&[1, 2, 3])));
    }
    if rng.chance(p) {
        k.enc_key_id = Some(rng.pick(&VNIS));
    }
    if rng.chance(p / 2) {
        let family = if rng.chance(50) { Family::V4 } else { Family::V6 };
        k.enc_src_ip = Some(random_prefix(rng, family));
    }
    if rng.chance(p / 2) {
        let family = if rng.chance(50) { Family::V4 } else { Family::V6 };
        k.enc_dst_ip = Some(random_prefix(rng, family));
    }
    if rng.chance(p / 2) {
        k.enc_dst_port = Some(rng.pick(&[4789, 6081]));
    }
    let protocol = match rng.below(8) {
        0 => Protocol::Ipv4,
        1 => Protocol::Ipv6,
        2 => Protocol::Vlan,
        _ => Protocol::All,
    };
    let action = match rng.below(5) {
        0 | 1 => Action::Drop,
        2 => Action::Pass,
        3 if ports > 0 => Action::Fwd(rng.below(ports as u64) as u16),
        _ => Action::Reflect,
    };
    Rule::new(line, 1 + rng.below(3) as u32, protocol, k, action)
}

fn random_rule_set(rng: &mut Rng, count: usize, ports: usize) -> RuleSet {
    RuleSet::new((0..count).map(|i| random_rule(rng, i + 1, ports)).collect())
}

fn random_l3(rng: &mut Rng, key: &mut PacketKey) {
    key.family = match rng.below(10) {
        0 => Family::None,
        1..=5 => Family::V4,
        _ => Family::V6,
    };
    if key.family == Family::None {
        return;
    }
    let v6 = key.family == Family::V6;
    let addr = |rng: &mut Rng| {
        if v6 {
            rng.pick(&V6) ^ if rng.chance(30) { 1u128 << rng.below(128) } else { 0 }
        } else {
            u128::from(rng.pick(&V4) ^ if rng.chance(30) { 1u32 << rng.below(32) } else { 0 })
        }
    };
    key.src_ip = addr(rng);
    key.dst_ip = addr(rng);
    key.ip_proto = if rng.chance(90) { rng.pick(&PROTOS) } else { rng.below(256) as u8 };
    if v6 && matches!(key.ip_proto, 0 | 43 | 44 | 60) {
        key.ip_proto = 17; // an extension header number would be parsed as one
    }
    key.ip_tos = if rng.chance(70) { rng.pick(&TOS) } else { rng.below(256) as u8 };
    key.ip_ttl = rng.pick(&TTLS);
    key.ip_flags = match rng.below(10) {
        0 => IP_FLAG_FRAG,
        1 => IP_FLAG_FRAG | IP_FLAG_FIRSTFRAG,
        _ => 0,
    };
    let later_fragment = key.ip_flags == IP_FLAG_FRAG;
    key.has_ports = matches!(key.ip_proto, 6 | 17 | 132) && !later_fragment;
    key.has_tcp_flags = key.ip_proto == 6 && !later_fragment;
    if key.has_ports {
        key.src_port = if rng.chance(80) { rng.pick(&PORTS) } else { rng.below(65536) as u16 };
        key.dst_port = if rng.chance(80) { rng.pick(&PORTS) } else { rng.below(65536) as u16 };
        if key.ip_proto == 17 && matches!(key.dst_port, 4789 | 6081) {
            key.dst_port = 4790; // would be parsed as a tunnel
        }
    }
    if key.has_tcp_flags {
        key.tcp_flags = if rng.chance(70) { rng.pick(&TCP_FLAGS) } else { rng.below(0x1000) as u16 };
    }
}

/// A random key and a shape for its frame.
fn random_packet(rng: &mut Rng) -> (PacketKey, FrameShape) {
    let mut key = PacketKey {
        has_l2: true,
        src_mac: rng.pick(&MACS),
        dst_mac: if rng.chance(80) { rng.pick(&MACS) } else { [0x02, 0xab, 0xcd, 0, 0, rng.below(256) as u8] },
        ..PacketKey::default()
    };
    if rng.chance(30) {
        key.has_vlan = true;
        key.vlan_id = rng.pick(&VLANS);
        key.vlan_prio = rng.below(8) as u8;
    }
    random_l3(rng, &mut key);
    let mut shape = FrameShape {
        qinq: rng.chance(30),
        ipv4_option_words: if rng.chance(30) { rng.below(11) as u8 } else { 0 },
        geneve_option_words: rng.below(3) as u8,
        payload: rng.below(40) as usize,
        ..FrameShape::default()
    };
    if key.family == Family::V6 && rng.chance(40) {
        for _ in 0..1 + rng.below(3) {
            shape.ipv6_ext.push(match rng.below(3) {
                0 => Ipv6Ext::HopByHop { len8: rng.below(3) as u8 },
                1 => Ipv6Ext::DestOpts { len8: rng.below(3) as u8 },
                _ => Ipv6Ext::Srh,
            });
        }
    }
    if rng.chance(30) {
        key.tunnel = true;
        key.enc_family = if rng.chance(50) { Family::V4 } else { Family::V6 };
        let v6 = key.enc_family == Family::V6;
        let addr = |rng: &mut Rng| if v6 { rng.pick(&V6) } else { u128::from(rng.pick(&V4)) };
        key.enc_src_ip = addr(rng);
        key.enc_dst_ip = addr(rng);
        key.has_enc_dst_port = true;
        key.enc_dst_port = rng.pick(&[4789, 6081]);
        key.enc_key_id = rng.pick(&VNIS);
        key.has_enc_key_id = key.enc_dst_port == 6081 || rng.chance(90);
    }
    (key, shape)
}

fn expected_retval(target: BpfTarget, verdict: Option<Verdict>) -> u32 {
    let xdp = target == BpfTarget::Xdp;
    (match verdict {
        None if xdp => bpf::xdp::PASS,
        None => -1,
        Some(Verdict::Drop) if xdp => bpf::xdp::DROP,
        Some(Verdict::Drop) => bpf::tc::DROP,
        Some(Verdict::Pass) if xdp => bpf::xdp::PASS,
        Some(Verdict::Pass) => bpf::tc::PASS,
        Some(Verdict::Redirect(_)) if xdp => bpf::xdp::REDIRECT,
        Some(Verdict::Reflect) if xdp => bpf::xdp::TX,
        Some(Verdict::Redirect(_) | Verdict::Reflect) => bpf::tc::REDIRECT,
    }) as u32
}

/// Runs `frame` through every program of `loaded` in order, as tc would (the next one
/// only on TC_ACT_UNSPEC), and returns the final return value.
fn run_all(loaded: &Loaded, frame: &[u8]) -> (u32, Vec<u8>) {
    for program in &loaded.programs {
        let run = program.program.test_run(frame, 1).unwrap();
        if run.retval != u32::MAX || loaded.target == BpfTarget::Xdp {
            return (run.retval, run.data_out);
        }
    }
    (u32::MAX, frame.to_vec())
}

fn differential(target: BpfTarget, seed: u64, sets: usize, rules: usize, packets: usize) {
    let mut rng = Rng::new(seed);
    let opts = BpfOptions { ports: vec!["lo".into()], ..BpfOptions::new("lo") };
    let mut total_matched = 0;
    for set_number in 0..sets {
        let count = 1 + rng.below(rules as u64) as usize;
        let set = random_rule_set(&mut rng, count, opts.ports.len());
        let linear = Linear::new(&set);
        let verdicts = verdicts(&set, &opts.ports).unwrap();
        let loaded = load(&set, target, &opts).unwrap_or_else(|err| panic!("{target} set {set_number}: {err}"));
        let mut before = Counters::read(&loaded.counters).unwrap();
        let mut matched = 0;
        for packet in 0..packets {
            let (key, shape) = random_packet(&mut rng);
            let frame = build(&key, &shape);
            let want = linear.classify(&key);
            let (retval, data_out) = run_all(&loaded, &frame);
            let context = || {
                format!("{target} seed {seed} set {set_number} packet {packet}: key {key:?} shape {shape:?} rules {:#?} frame {frame:02x?}", set.rules)
            };
            assert_eq!(
                retval,
                expected_retval(target, want.map(|i| verdicts[i])),
                "verdict; want rule {want:?}; {}",
                context()
            );
            let after = Counters::read(&loaded.counters).unwrap();
            let counted: Vec<usize> = (0..set.len()).filter(|&i| after.per_rule[i] != before.per_rule[i]).collect();
            assert_eq!(counted, want.into_iter().collect::<Vec<_>>(), "counted rule; {}", context());
            assert_eq!(after.no_match - before.no_match, u64::from(want.is_none()), "no-match counter; {}", context());
            if want.is_some_and(|i| verdicts[i] == Verdict::Reflect) {
                assert_eq!(&data_out[0..6], &frame[6..12], "reflect swaps the MACs; {}", context());
                assert_eq!(&data_out[6..12], &frame[0..6], "reflect swaps the MACs; {}", context());
            }
            before = after;
            matched += usize::from(want.is_some());
        }
        total_matched += matched;
    }
    // The pools make matches common; a generator drifting to all-miss would test little.
    eprintln!("{target}: {total_matched} of {} packets matched a rule", sets * packets);
    assert!(total_matched * 6 >= sets * packets, "{target}: only {total_matched} packets matched a rule");
}

#[test]
fn xdp_program_agrees_with_linear() {
    if require_root("xdp_program_agrees_with_linear") {
        differential(BpfTarget::Xdp, 1, 40, 16, 150);
    }
}

#[test]
fn tc_program_agrees_with_linear() {
    if require_root("tc_program_agrees_with_linear") {
        differential(BpfTarget::TcBpf, 2, 40, 16, 150);
    }
}

#[test]
fn per_rule_programs_agree_with_linear() {
    if require_root("per_rule_programs_agree_with_linear") {
        differential(BpfTarget::TcBpfPerRule, 3, 15, 10, 120);
    }
}

#[test]
fn encap_decap_ttl_dec_and_unknown_ports_are_refused() {
    let rule = |line, action| Rule::new(line, 1, Protocol::All, Keys::default(), action);
    let set = RuleSet::new(vec![
        rule(1, Action::Drop),
        rule(2, Action::Encap("vxlan,vni=1".into())),
        rule(3, Action::Decap),
        rule(4, Action::TtlDec),
        rule(5, Action::Fwd(3)),
        Rule { protocol: Protocol::Ether(0x8847), ..rule(6, Action::Drop) },
        Rule { keys: Keys { num_of_vlans: Some(2), ..Keys::default() }, ..rule(7, Action::Drop) },
        rule(8, Action::TunnelKey(rules::TunnelKey::Unset)),
        rule(9, Action::Mpls(rules::MplsAction::DecTtl)),
    ]);
    let refusals = verdicts(&set, &["lo".into()]).unwrap_err();
    let lines: Vec<usize> = refusals.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(refusals[0].reason.contains("encap"), "{}", refusals[0]);
    assert!(refusals[3].reason.contains("only 1 port"), "{}", refusals[3]);
    assert!(refusals[4].reason.contains("`protocol` is not matched by the eBPF targets"), "{}", refusals[4]);
    assert!(refusals[5].reason.contains("`num_of_vlans`"), "{}", refusals[5]);
    assert!(refusals[6].reason.contains("`tunnel_key unset` is not supported by the eBPF"), "{}", refusals[6]);
    assert!(refusals[7].reason.contains("`mpls dec_ttl` is not supported by the eBPF"), "{}", refusals[7]);
    let err = load(&set, BpfTarget::Xdp, &BpfOptions::new("lo")).unwrap_err();
    assert!(matches!(err, Error::Refused { target: Target::Xdp, .. }), "{err}");
    assert!(err.to_string().contains("line 3 (rule 2): `decap`"), "{err}");
}

#[test]
fn a_thousand_rules_load_in_every_target() {
    if !require_root("a_thousand_rules_load_in_every_target") {
        return;
    }
    // The study's worst case: 1000 rules, the last one matching.
    let mut rules: Vec<Rule> = (0..1000u32)
        .map(|i| Rule {
            line: i as usize + 1,
            action_col: 1,
            prio: 1,
            protocol: Protocol::Ipv4,
            keys: Keys {
                ip_proto: Some(17),
                dst_ip: Some(Prefix::v4((0x0a00_0000 + i).to_be_bytes(), 32)),
                dst_port: Some(PortMatch::exact(1000 + i as u16)),
                ..Keys::default()
            },
            chain: 0,
            hook: rules::Hook::Ingress,
            actions: vec![Action::Drop],
        })
        .collect();
    rules[999].keys.dst_ip = Some(Prefix::v4([10, 9, 9, 9], 32));
    let set = RuleSet::new(rules);
    let key = PacketKey::ipv4_5tuple([1, 1, 1, 1], [10, 9, 9, 9], 17, 5, 1999);
    let frame = build(&PacketKey { has_l2: true, ..key }, &FrameShape::default());
    for target in [BpfTarget::Xdp, BpfTarget::TcBpf, BpfTarget::TcBpfPerRule] {
        let started = std::time::Instant::now();
        let loaded = load(&set, target, &BpfOptions::new("lo")).unwrap();
        eprintln!(
            "{target}: {} program(s), {} instructions, loaded in {:?}",
            loaded.programs.len(),
            loaded.programs.iter().map(|p| p.instructions).sum::<usize>(),
            started.elapsed()
        );
        let (retval, _) = run_all(&loaded, &frame);
        assert_eq!(retval, expected_retval(target, Some(Verdict::Drop)));
        assert_eq!(Counters::read(&loaded.counters).unwrap().per_rule[999], 1);
    }
}
