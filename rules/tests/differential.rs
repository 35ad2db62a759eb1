//! Differential tests: every classifier gives [`Linear`]'s answer (the first rule in matching
//! order, reported by file index) on random rule sets and packets. Values come from small
//! pools so that rules overlap, nest and duplicate, and packets hit them; every key of the
//! model appears (IPv6, masks, ranges, VLAN, MACs, TOS/TTL, flags, tunnel keys), with prio
//! ties.

use proptest::prelude::*;
use rules::fast::{Fast, Params};
use rules::gen::{self, Rng};
use rules::tss::Tss;
use rules::{Classifier, Family, Indev, Keys, Linear, Masked, PacketKey, PortMatch, Prefix, Protocol, Rule, RuleSet};

const V4_BASES: [u32; 4] = [0x0a00_0000, 0x0a01_0200, 0xc0a8_0000, 0x0000_0000];
const V6_BASES: [u128; 3] = [0x2001_0db8 << 96, (0x2001_0db8 << 96) | (0xffff << 64) | 1, 0xfe80 << 112];
const PORTS: [u16; 7] = [0, 53, 80, 443, 1023, 1024, 65535];

fn v4_prefix() -> impl Strategy<Value = Prefix> {
    (0..V4_BASES.len(), any::<u32>(), 0u8..=32, any::<bool>()).prop_map(|(base, noise, len, noisy)| {
        let addr = V4_BASES[base] ^ if noisy { noise & 0x0000_ffff } else { 0 };
        Prefix::v4(addr.to_be_bytes(), len)
    })
}

fn v6_prefix() -> impl Strategy<Value = Prefix> {
    (0..V6_BASES.len(), any::<u64>(), 0u8..=128, any::<bool>()).prop_map(|(base, noise, len, noisy)| {
        let addr = V6_BASES[base] ^ if noisy { u128::from(noise) << 40 } else { 0 };
        Prefix::v6(addr.to_be_bytes(), len)
    })
}

fn prefix() -> impl Strategy<Value = Prefix> {
    prop_oneof![3 => v4_prefix(), 1 => v6_prefix()]
}

fn port_match() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        (0..PORTS.len()).prop_map(|i| PortMatch::exact(PORTS[i])),
        (0..PORTS.len(), 0..PORTS.len()).prop_map(|(a, b)| {
            let (lo, hi) = (PORTS[a].min(PORTS[b]), PORTS[a].max(PORTS[b]));
            PortMatch::Range { lo, hi }
        }),
        (any::<u16>(), prop_oneof![Just(0xff00u16), Just(0xfff0), Just(0x00ff), any::<u16>()])
            .prop_map(|(value, mask)| PortMatch::Masked(Masked::<u16>::new(value, mask))),
    ]
}

fn masked_u8() -> impl Strategy<Value = Masked<u8>> {
    (any::<u8>(), prop_oneof![Just(0xffu8), Just(0xfc), Just(0x03), any::<u8>()])
        .prop_map(|(value, mask)| Masked::<u8>::new(value, mask))
}

/// Mostly 5-tuple keys, sometimes the others, rarely contradictory combinations.
fn rule() -> impl Strategy<Value = Rule> {
    let five_tuple = (
        prop::option::weighted(0.7, prefix()),
        prop::option::weighted(0.7, prefix()),
        prop::option::weighted(0.4, port_match()),
        prop::option::weighted(0.5, port_match()),
        prop::option::weighted(0.5, prop_oneof![Just(6u8), Just(17), Just(1), Just(115)]),
    );
    let others = (
        prop::option::weighted(
            0.05,
            (any::<u64>(), any::<u64>())
                .prop_map(|(v, m)| Masked::<u64>::new(v & 0xffff_ffff_ffff, m & 0xffff_ffff_ffff)),
        ),
        prop::option::weighted(0.05, 0u16..4),
        prop::option::weighted(0.05, masked_u8()),
        prop::option::weighted(0.05, masked_u8()),
        prop::option::weighted(
            0.05,
            (any::<u16>(), any::<u16>()).prop_map(|(v, m)| Masked::<u16>::new(v & 0xfff, m & 0xfff)),
        ),
        prop::option::weighted(0.05, (0u8..4, 0u8..4).prop_map(|(v, m)| Masked::<u8>::new(v, m))),
        prop::option::weighted(0.05, 0u32..3),
        prop::option::weighted(0.05, v4_prefix()),
        prop::option::weighted(0.05, prop_oneof![Just(4789u16), Just(6081)]),
        // A PPPoE session's id and PPP protocol.
        prop::option::weighted(
            0.08,
            (prop::option::of(0u16..2), prop::option::of(prop_oneof![Just(0x21u16), Just(0x57), Just(0xc021)])),
        ),
    );
    // The keys beyond the classic set: ARP, MPLS, QinQ, ICMP, outer TOS, arrival port.
    let beyond = (
        prop::option::weighted(
            0.04,
            prop_oneof![Just(0x0800u16), Just(0x0806), Just(0x8847), Just(0x88cc), Just(0x8864)],
        ),
        prop::option::weighted(0.04, 0u8..3),
        prop::option::weighted(0.04, 0u16..3),
        any::<bool>(),
        prop::option::weighted(0.04, v4_prefix()),
        prop::option::weighted(
            0.04,
            (0u8..3, prop_oneof![Just(0xffu8), Just(1)]).prop_map(|(v, m)| Masked::<u8>::new(v, m)),
        ),
        prop::option::weighted(0.04, 0u32..3),
        prop::option::weighted(0.04, 0u8..2),
        prop::option::weighted(0.04, (0u8..3).prop_map(Masked::<u8>::exact)),
        prop::option::weighted(0.04, masked_u8()),
        prop::option::weighted(0.04, 0u16..3),
        // CFM's MD level and opcode.
        prop::option::weighted(0.04, (prop::option::of(0u8..2), prop::option::of(0u8..3))),
    );
    let protocol = prop_oneof![
        6 => Just(Protocol::All),
        2 => Just(Protocol::Ipv4),
        1 => Just(Protocol::Ipv6),
        1 => Just(Protocol::Vlan),
        1 => prop_oneof![Just(0x0806u16), Just(0x8035), Just(0x8847), Just(0x88cc), Just(0x8902), Just(0x8864)].prop_map(Protocol::Ether),
    ];
    (five_tuple, others, beyond, protocol, 1u32..4).prop_map(
        |((src_ip, dst_ip, src_port, dst_port, ip_proto), others, beyond, mut protocol, prio)| {
            let (src_mac, vlan_id, ip_tos, ip_ttl, tcp_flags, ip_flags, enc_key_id, enc_src_ip, enc_dst_port, pppoe) =
                others;
            let (pppoe_sid, ppp_proto) = pppoe.unwrap_or_default();
            let (
                eth_type,
                num_of_vlans,
                cvlan_id,
                cvlan,
                arp_sip,
                arp_op,
                mpls_label,
                mpls_bos,
                icmp_type,
                enc_tos,
                port,
                cfm,
            ) = beyond;
            let (cfm_mdl, cfm_op) = cfm.unwrap_or_default();
            let indev = port.map(|port| {
                let mut dev = Indev::new(["eth0", "eth1", "eth2"][usize::from(port)]).expect("a valid name");
                dev.port = port;
                dev
            });
            // Mostly keep the protocol consistent with the prefixes (as the parser would
            // require); the contradictory rest must simply never match, in every engine.
            if let Some(p) = src_ip.or(dst_ip) {
                if protocol != Protocol::Vlan && prio != 3 {
                    protocol = if p.family == Family::V6 { Protocol::Ipv6 } else { Protocol::Ipv4 };
                }
            }
            Rule {
                line: 0,
                action_col: 1,
                prio,
                protocol,
                keys: Keys {
                    src_mac,
                    dst_mac: None,
                    vlan_id,
                    vlan_prio: None,
                    ip_proto,
                    src_ip,
                    dst_ip,
                    src_port,
                    dst_port,
                    ip_tos,
                    ip_ttl,
                    tcp_flags,
                    ip_flags,
                    enc_key_id,
                    enc_src_ip,
                    enc_dst_ip: None,
                    enc_dst_port,
                    enc_tos,
                    enc_ttl: None,
                    eth_type,
                    cvlan: cvlan && cvlan_id.is_some(),
                    cvlan_id,
                    cvlan_prio: None,
                    num_of_vlans,
                    arp_sip,
                    arp_tip: None,
                    arp_op,
                    arp_sha: src_mac.filter(|_| prio == 2),
                    arp_tha: None,
                    mpls_label,
                    mpls_tc: None,
                    mpls_bos,
                    mpls_ttl: None,
                    // A second label stack entry (flower's `mpls lse depth 2`), on some rules.
                    mpls_lses: mpls_label.filter(|_| prio == 1).map(|label| {
                        let mut lses = [rules::MplsLse::default(); rules::MPLS_LSE_DEPTH_MAX];
                        lses[1] = rules::MplsLse { used: true, label: Some(label & 3), ..rules::MplsLse::default() };
                        lses
                    }),
                    cfm_mdl,
                    cfm_op,
                    pppoe_sid,
                    ppp_proto,
                    // A session id on some rules (the parser would ask for ip_proto l2tp).
                    l2tpv3_sid: enc_key_id.filter(|_| prio == 3),
                    icmp_type,
                    icmp_code: None,
                    indev,
                },
                chain: 0,
                hook: rules::Hook::Ingress,
                actions: vec![rules::Action::Drop],
            }
        },
    )
}

/// Rules plus copies of some of them (duplicates at other prios and positions).
fn rule_set(max: usize) -> impl Strategy<Value = RuleSet> {
    (prop::collection::vec(rule(), 1..max), prop::collection::vec((any::<prop::sample::Index>(), 1u32..4), 0..8))
        .prop_map(|(mut rules, copies)| {
            for (index, prio) in copies {
                let mut copy = rules[index.index(rules.len())].clone();
                copy.prio = prio;
                rules.push(copy);
            }
            for (line, rule) in rules.iter_mut().enumerate() {
                rule.line = line + 1;
            }
            RuleSet::new(rules)
        })
}

/// A packet from the same small pools the rules use.
fn packet() -> impl Strategy<Value = PacketKey> {
    let addresses = (
        prop_oneof![3 => Just(Family::V4), 1 => Just(Family::V6), 1 => Just(Family::None)],
        any::<u64>(),
        0..3usize,
        0..3usize,
    );
    let l4 = (
        0..PORTS.len(),
        0..PORTS.len(),
        any::<u16>(),
        any::<bool>(),
        prop_oneof![Just(6u8), Just(17), Just(1), Just(47), Just(115)],
    );
    let rest = (
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        prop_oneof![Just(0x0806u16), Just(0x8035), Just(0x8847), Just(0x88cc), Just(0x8902), Just(0x8864)],
    );
    (addresses, l4, rest).prop_map(
        |((family, noise, a, b), (sp, dp, random_port, use_random, proto), (vlan, tunnel, bits, not_ip))| {
            // As the walker gives them: the ethertype follows the family, ARP and MPLS have none.
            // Some IP packets inside a PPPoE session (the walker goes on into it).
            let in_pppoe = family != Family::None && (bits >> 61) & 3 == 0;
            let ethertype = match family {
                _ if in_pppoe => 0x8864,
                Family::V4 => 0x0800,
                Family::V6 => 0x86dd,
                Family::None => not_ip,
            };
            let num_vlans = if vlan { 1 + ((bits >> 60) as u8 & 1) } else { 0 };
            let address = |base: usize| match family {
                Family::V4 => u128::from(V4_BASES[base] ^ (noise as u32 & 0x0000_ffff)),
                Family::V6 => V6_BASES[base] ^ (u128::from(noise) << 40),
                Family::None => 0,
            };
            let has_ports = family != Family::None && !matches!(proto, 1 | 47 | 115);
            PacketKey {
                has_l2: true,
                src_mac: [0, 1, 2, 3, 4, bits as u8],
                dst_mac: [6, 7, 8, 9, 10, 11],
                has_vlan: vlan,
                vlan_id: (bits >> 8) as u16 & 3,
                vlan_prio: 0,
                family,
                ip_proto: proto,
                src_ip: address(a),
                dst_ip: address(b),
                ip_tos: (bits >> 16) as u8,
                ip_ttl: (bits >> 24) as u8,
                ip_flags: (bits >> 32) as u8 & 3,
                has_ports,
                src_port: if use_random { random_port } else { PORTS[sp] },
                dst_port: PORTS[dp],
                has_tcp_flags: has_ports && proto == 6,
                tcp_flags: (bits >> 40) as u16 & 0xfff,
                tunnel,
                has_enc_key_id: tunnel,
                enc_key_id: (bits >> 52) as u32 & 3,
                enc_family: if tunnel { Family::V4 } else { Family::None },
                enc_src_ip: if tunnel { u128::from(V4_BASES[a]) } else { 0 },
                enc_dst_ip: 0,
                has_enc_dst_port: tunnel,
                enc_dst_port: 4789,
                has_cvlan: num_vlans == 2,
                cvlan_id: (bits >> 10) as u16 & 3,
                cvlan_prio: 0,
                num_vlans,
                ethertype,
                has_arp: matches!(ethertype, 0x0806 | 0x8035),
                arp_op: (bits >> 12) as u8 % 3,
                arp_sip: V4_BASES[a] ^ (noise as u32 & 0x0000_ffff),
                arp_tip: V4_BASES[b],
                arp_sha: [0, 1, 2, 3, 4, bits as u8],
                arp_tha: [0; 6],
                has_mpls: matches!(ethertype, 0x8847 | 0x8848),
                mpls_lse: (((bits >> 14) as u32 & 3) << 12) | (((bits >> 16) as u32 & 1) << 8) | 64,
                mpls_entries: 1 + ((bits >> 62) as u8 & 1),
                mpls_deeper: [((bits >> 56) as u32 & 3) << 12 | 1 << 8 | 64, 0, 0, 0, 0, 0],
                has_l2tpv3: family != Family::None && proto == 115,
                l2tpv3_sid: (bits >> 52) as u32 & 3,
                has_pppoe: ethertype == 0x8864,
                pppoe_sid: (bits >> 5) as u16 & 1,
                ppp_proto: match family {
                    Family::V4 => 0x21,
                    Family::V6 => 0x57,
                    Family::None => 0xc021,
                },
                has_cfm: ethertype == 0x8902,
                cfm_mdl: (bits >> 44) as u8 & 1,
                cfm_op: (bits >> 46) as u8 % 3,
                has_icmp: family != Family::None && proto == 1,
                icmp_type: (bits >> 18) as u8 & 3,
                icmp_code: 0,
                enc_tos: (bits >> 20) as u8,
                enc_ttl: 64,
                has_in_port: bits & 1 == 0,
                in_port: (bits >> 22) as u16 & 3,
            }
        },
    )
}

fn tunings() -> Vec<Params> {
    vec![
        Params::default(),
        // Forces the wide/narrow trees and deep trees even on small sets.
        Params { leaf_rules: 1, max_cut_bits: 2, one_tree_up_to: 0, ..Params::default() },
        Params { wide_below: 0, leaf_rules: 2, ..Params::default() },
        // Wide cuts and single-rule leaves (compact entries, lockstep walks of 4 trees).
        Params { leaf_rules: 1, max_cut_bits: 16, space_factor: 16.0, one_tree_up_to: 0, ..Params::default() },
    ]
}

fn check(set: &RuleSet, packets: &[PacketKey]) -> Result<(), TestCaseError> {
    let linear = Linear::new(set);
    let tss = Tss::new(set);
    let fasts: Vec<Fast> =
        tunings().into_iter().map(|params| Fast::with_params(set, params).expect("the set fits")).collect();
    let mut burst = vec![None; packets.len()];
    for fast in &fasts {
        fast.classify_burst(packets, &mut burst);
        for (packet, from_burst) in packets.iter().zip(&burst) {
            let want = linear.classify(packet);
            prop_assert_eq!(fast.classify(packet), want, "fast {:?} on {:?}", fast.params(), packet);
            prop_assert_eq!(*from_burst, want, "fast burst {:?} on {:?}", fast.params(), packet);
        }
    }
    for packet in packets {
        prop_assert_eq!(tss.classify(packet), linear.classify(packet), "tss on {:?}", packet);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_packets_agree_with_linear(set in rule_set(150), packets in prop::collection::vec(packet(), 1..200)) {
        check(&set, &packets)?;
    }

    #[test]
    fn packets_built_for_each_rule_agree_with_linear(set in rule_set(150), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let packets: Vec<PacketKey> = set.rules.iter().map(|rule| gen::packet_for_rule(rule, &mut rng)).collect();
        check(&set, &packets)?;
    }

    #[test]
    fn generated_classbench_sets_agree_with_linear(style in 0..3usize, n in 1..600usize, seed in any::<u64>()) {
        let set = gen::rule_set(gen::Style::ALL[style], n, seed);
        let packets = gen::trace(&set, gen::TraceKind::Mixed, 300, seed);
        check(&set, &packets)?;
    }
}

#[test]
fn a_packet_without_ports_never_matches_a_full_port_range() {
    let mut rule = gen::five_tuple_rule(0, None, None, Some(PortMatch::Range { lo: 0, hi: 65535 }), None, None);
    rule.protocol = Protocol::All;
    let set = RuleSet::new(vec![rule]);
    let mut packet = PacketKey::ipv4_5tuple([1, 2, 3, 4], [5, 6, 7, 8], 1, 0, 0);
    packet.has_ports = false;
    assert_eq!(rules::fast::build(&set).unwrap().classify(&packet), None);
    packet.has_ports = true;
    assert_eq!(rules::fast::build(&set).unwrap().classify(&packet), Some(0));
}

#[test]
fn ties_in_prio_go_to_the_earlier_line_and_lower_prio_wins() {
    let any_rule = |prio| Rule { prio, ..gen::five_tuple_rule(0, None, None, None, None, None) };
    let set = RuleSet::new(vec![any_rule(5), any_rule(2), any_rule(2)]);
    let packet = PacketKey::ipv4_5tuple([1, 2, 3, 4], [5, 6, 7, 8], 6, 1, 2);
    assert_eq!(rules::default_classifier(&set).unwrap().classify(&packet), Some(1));
}

#[test]
fn an_ipv6_host_prefix_matches_only_its_address() {
    // A /128 once had an all-zero mask (a shift by 128) and matched every IPv6 address.
    let host = Prefix::v6((0x2001_0db8u128 << 96 | 1).to_be_bytes(), 128);
    assert!(host.contains(Family::V6, 0x2001_0db8 << 96 | 1));
    assert!(!host.contains(Family::V6, 0x2001_0db8 << 96));
}
