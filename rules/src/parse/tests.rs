//! The rule language's tests: every key, action and error as tc reads them, and the printer
//! read back (proptest).

use super::*;
use crate::classbench::parse_trace;
use crate::classifier::Classifier;
use crate::key::PacketKey;
use crate::lex::{MAX_LINE_BYTES, MAX_TOKEN_BYTES};
use crate::linear::Linear;
use crate::rule::GateEntry;
use crate::rule::PeditField;
use crate::rule::TunnelSet;
use crate::rule::MPLS_LABEL_IMPLICIT_NULL;
use proptest::prelude::*;
use std::net::IpAddr;

fn rules(text: &str) -> Vec<Rule> {
    match parse("r.rules", text) {
        Ok(set) => set.rules,
        Err(errors) => panic!("unexpected errors: {errors:?}"),
    }
}

fn keys(line: &str) -> Keys {
    rules(line).remove(0).keys
}

fn errors(text: &str) -> Vec<String> {
    match parse("r.rules", text) {
        Ok(set) => panic!("expected errors, got {set:?}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The single error of a one-line file.
fn error(line: &str) -> String {
    let all = errors(line);
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

#[test]
fn every_key_good() {
    let k = keys("src_mac 02:00:00:00:00:01 action drop");
    assert_eq!(k.src_mac, Some(Masked::<u64>::new(0x0200_0000_0001, MAC_BITS)));
    let k = keys("dst_mac 02:00:00:00:ab:CD/ff:ff:ff:00:00:00 action drop");
    assert_eq!(k.dst_mac, Some(Masked::<u64>::new(0x0200_0000_abcd, 0xffff_ff00_0000)));
    let k = keys("dst_mac 02:00:00:00:ab:cd/24 action drop");
    assert_eq!(k.dst_mac, Some(Masked::<u64>::new(0x0200_0000_0000, 0xffff_ff00_0000)));
    assert_eq!(keys("vlan_id 4095 action drop").vlan_id, Some(4095));
    // tc reads VLAN ids in decimal only (f_flower.c `get_u16(.., 10)`).
    assert_eq!(keys("vlan_id 010 action drop").vlan_id, Some(10));
    assert_eq!(keys("vlan_prio 7 action drop").vlan_prio, Some(7));
    for (name, proto) in
        // Numbers in hex, as tc reads them: 47 is 0x47; abbreviations as tc's `matches`.
        [
            ("tcp", 6),
            ("udp", 17),
            ("sctp", 132),
            ("icmp", 1),
            ("icmpv6", 58),
            ("47", 0x47),
            ("0xff", 255),
            ("2f", 47),
            ("u", 17),
            ("esp", 50),
        ]
    {
        assert_eq!(keys(&format!("ip_proto {name} action drop")).ip_proto, Some(proto), "{name}");
    }
    assert_eq!(keys("src_ip 10.1.2.3/8 action drop").src_ip, Some(Prefix::v4([10, 0, 0, 0], 8)));
    assert_eq!(keys("src_ip 10.1.2.3 action drop").src_ip, Some(Prefix::v4([10, 1, 2, 3], 32)));
    assert_eq!(keys("dst_ip 10.1.2.3/255.255.0.0 action drop").dst_ip, Some(Prefix::v4([10, 1, 0, 0], 16)));
    let v6: Ipv6Addr = "2001:db8::".parse().unwrap();
    assert_eq!(keys("dst_ip 2001:db8::1/32 action drop").dst_ip, Some(Prefix::v6(v6.octets(), 32)));
    assert_eq!(keys("dst_ip 2001:db8:: action drop").dst_ip, Some(Prefix::v6(v6.octets(), 128)));
    let k = keys("ip_proto tcp src_port 80 dst_port 0x50/0xfff0 action drop");
    assert_eq!(k.src_port, Some(PortMatch::exact(80)));
    assert_eq!(k.dst_port, Some(PortMatch::Masked(Masked::<u16>::new(0x50, 0xfff0))));
    let k = keys("ip_proto udp dst_port 1024-65535 action drop");
    assert_eq!(k.dst_port, Some(PortMatch::Range { lo: 1024, hi: 65535 }));
    let k = keys("ip_proto sctp dst_port 9 action drop");
    assert_eq!(k.dst_port, Some(PortMatch::exact(9)));
    assert_eq!(keys("ip_tos 0x10 action drop").ip_tos, Some(Masked::<u8>::exact(0x10)));
    assert_eq!(keys("ip_tos 0x10/0xfc action drop").ip_tos, Some(Masked::<u8>::new(0x10, 0xfc)));
    assert_eq!(keys("ip_ttl 1 action drop").ip_ttl, Some(Masked::<u8>::exact(1)));
    // The value decimal (else hex), the mask hex: f_flower.c `flower_parse_ip_tos_ttl`.
    assert_eq!(keys("ip_ttl 40/ff action drop").ip_ttl, Some(Masked::<u8>::new(40, 0xff)));
    assert_eq!(keys("ip_tos 9/08 action drop").ip_tos, Some(Masked::<u8>::new(8, 8)));
    assert_eq!(keys("ip_tos 1f action drop").ip_tos, Some(Masked::<u8>::exact(0x1f)));
    // tcp_flags in hex, value and mask: 10 is 0x10 (ACK).
    assert_eq!(keys("ip_proto tcp tcp_flags 10/12 action drop").tcp_flags, Some(Masked::<u16>::new(0x10, 0x12)));
    assert_eq!(keys("ip_proto tcp tcp_flags 0x02/0x12 action drop").tcp_flags, Some(Masked::<u16>::new(2, 0x12)));
    assert_eq!(keys("ip_proto tcp tcp_flags 0x02 action drop").tcp_flags, Some(Masked::<u16>::new(2, 0xfff)));
    let frag = IP_FLAG_FRAG;
    let first = IP_FLAG_FIRSTFRAG;
    assert_eq!(keys("ip_flags frag action drop").ip_flags, Some(Masked::<u8>::new(frag, frag)));
    assert_eq!(keys("ip_flags nofrag action drop").ip_flags, Some(Masked::<u8>::new(0, frag)));
    assert_eq!(
        keys("ip_flags frag/firstfrag action drop").ip_flags,
        Some(Masked::<u8>::new(frag | first, frag | first))
    );
    assert_eq!(keys("ip_flags frag/nofirstfrag action drop").ip_flags, Some(Masked::<u8>::new(frag, frag | first)));
    assert_eq!(keys("ip_flags nofirstfrag action drop").ip_flags, Some(Masked::<u8>::new(0, first)));
    assert_eq!(keys("enc_key_id 4294967295 action drop").enc_key_id, Some(u32::MAX));
    assert_eq!(keys("enc_src_ip 192.0.2.1 action drop").enc_src_ip, Some(Prefix::v4([192, 0, 2, 1], 32)));
    assert_eq!(keys("enc_dst_ip 2001:db8::/32 action drop").enc_dst_ip, Some(Prefix::v6(v6.octets(), 32)));
    assert_eq!(keys("enc_dst_port 4789 action drop").enc_dst_port, Some(4789));
}

#[test]
fn keys_beyond_the_five_tuple_as_tc_reads_them() {
    let rule = |line: &str| rules(line).remove(0);
    // protocol: any ethertype, by lib/ll_proto.c's name or as `get_be16(.., 0)` reads it.
    for (text, protocol) in [
        ("arp", Protocol::Ether(0x0806)),
        ("RARP", Protocol::Ether(0x8035)),
        ("0x8847", Protocol::Ether(0x8847)),
        ("mpls_mc", Protocol::Ether(0x8848)),
        ("lldp", Protocol::Ether(0x88cc)),
        ("0x88F7", Protocol::Ether(0x88f7)),
        ("ipv4", Protocol::Ipv4),
        ("2048", Protocol::Ipv4),
    ] {
        assert_eq!(rule(&format!("protocol {text} action drop")).protocol, protocol, "{text}");
    }
    let k = keys("protocol arp arp_sip 10.0.0.0/8 arp_tip 10.0.0.1 arp_op request arp_sha 02:00:00:00:00:01/24 arp_tha 02:00:00:00:00:02 action drop");
    assert_eq!((k.arp_sip, k.arp_tip), (Some(Prefix::v4([10, 0, 0, 0], 8)), Some(Prefix::v4([10, 0, 0, 1], 32))));
    assert_eq!(k.arp_op, Some(Masked::<u8>::exact(1)));
    assert_eq!(k.arp_sha, Some(Masked::<u64>::new(0x0200_0000_0001, 0xffff_ff00_0000)));
    assert_eq!(k.arp_tha, Some(Masked::<u64>::new(0x0200_0000_0002, MAC_BITS)));
    // flower_parse_u8: the value by name or decimal, the mask decimal too.
    assert_eq!(keys("protocol rarp arp_op reply/255 action drop").arp_op, Some(Masked::<u8>::exact(2)));
    assert_eq!(keys("protocol arp arp_op 2/10 action drop").arp_op, Some(Masked::<u8>::new(2, 10)));
    let k = keys("protocol mpls_uc mpls_label 1048575 mpls_tc 7 mpls_bos 1 mpls_ttl 255 action drop");
    assert_eq!((k.mpls_label, k.mpls_tc, k.mpls_bos, k.mpls_ttl), (Some(0xf_ffff), Some(7), Some(1), Some(255)));
    // CFM: `cfm` then `mdl`/`op` (exact words), decimal; under a tag by vlan_ethtype.
    let k = keys("protocol cfm cfm mdl 7 op 255 action drop");
    assert_eq!((k.cfm_mdl, k.cfm_op), (Some(7), Some(255)));
    let k = keys("tc filter add dev eth0 ingress protocol cfm pref 1 flower cfm op 1 mdl 5 action ok");
    assert_eq!((k.cfm_mdl, k.cfm_op), (Some(5), Some(1)));
    let k = keys("protocol 802.1q vlan_ethtype cfm cfm op 3 action drop");
    assert_eq!((k.eth_type, k.cfm_mdl, k.cfm_op), (Some(0x8902), None, Some(3)));
    let r = rule("protocol cfm cfm action drop");
    assert_eq!((r.protocol, r.keys.cfm_mdl, r.keys.cfm_op), (Protocol::Ether(0x8902), None, None));
    // L2TPv3: the session id decimal, under ip_proto l2tp (IPv4 or IPv6).
    let k = keys("protocol ip ip_proto l2tp l2tpv3_sid 4294967295 action drop");
    assert_eq!((k.ip_proto, k.l2tpv3_sid), (Some(115), Some(u32::MAX)));
    assert_eq!(keys("l2tpv3_sid 0 protocol ipv6 ip_proto 73 action drop").l2tpv3_sid, Some(0));
    // PPPoE: the session id decimal; ppp_proto by lib/ppp_proto.c's names (any case) or
    // a number with C's prefixes; after `ppp_proto ip` the IP keys are the session's.
    let r = rule("protocol ppp_ses pppoe_sid 65535 ppp_proto IP dst_ip 127.0.0.1 action drop");
    assert_eq!((r.protocol, r.keys.pppoe_sid, r.keys.ppp_proto), (Protocol::Ether(0x8864), Some(0xffff), Some(0x21)));
    assert_eq!(r.keys.dst_ip, Some(Prefix::v4([127, 0, 0, 1], 32)));
    let k = keys("protocol 802.1q vlan_id 2 vlan_ethtype ppp_ses ppp_proto 0x57 src_ip 2001:db8::1 action drop");
    assert_eq!((k.eth_type, k.ppp_proto, k.src_ip.map(|p| p.family)), (Some(0x8864), Some(0x57), Some(Family::V6)));
    assert_eq!(keys("protocol ppp_ses ppp_proto lcp action drop").ppp_proto, Some(0xc021));
    assert_eq!(keys("protocol ppp_ses ppp_proto 33 action drop").ppp_proto, Some(0x21));
    let k = keys("protocol ppp_ses ppp_proto mpls_uc mpls_label 5 action drop");
    assert_eq!((k.ppp_proto, k.mpls_label), (Some(0x281), Some(5)));
    // QinQ: a TPID inside the outer tag announces the customer tag.
    let r = rule(
        "protocol 802.1ad vlan_id 1000 vlan_ethtype 802.1q cvlan_id 100 cvlan_prio 3 cvlan_ethtype ipv4 action drop",
    );
    assert_eq!(r.protocol, Protocol::Vlan);
    assert_eq!(
        (r.keys.cvlan, r.keys.cvlan_id, r.keys.cvlan_prio, r.keys.eth_type),
        (true, Some(100), Some(3), Some(0x0800))
    );
    let k = keys("protocol 802.1q vlan_ethtype 0x800 vlan_id 100 src_ip 10.0.0.1 action drop");
    assert_eq!((k.cvlan, k.eth_type, k.vlan_id), (false, Some(0x0800), Some(100)));
    let k = keys("num_of_vlans 2 cvlan_ethtype 0x800 action drop");
    assert_eq!((k.num_of_vlans, k.eth_type), (Some(2), Some(0x0800)));
    // ICMP type and code: decimal, an optional decimal mask (`128/240`).
    let k = keys("protocol ipv6 ip_proto icmpv6 type 128/240 code 0 action drop");
    assert_eq!((k.icmp_type, k.icmp_code), (Some(Masked::<u8>::new(128, 240)), Some(Masked::<u8>::exact(0))));
    // enc_tos / enc_ttl as ip_tos / ip_ttl: the value decimal (else hex), the mask hex.
    let k = keys("enc_tos 0x30 enc_ttl 63/f0 action drop");
    assert_eq!((k.enc_tos, k.enc_ttl), (Some(Masked::<u8>::exact(0x30)), Some(Masked::<u8>::new(63, 0xf0))));
    let k = keys("indev eth0 action drop");
    assert_eq!(k.indev.map(|d| (d.name().to_string(), d.port)), Some(("eth0".to_string(), Indev::UNRESOLVED)));
    // Each prints as a line that reads back as the same rule.
    for line in [
        "protocol arp arp_sip 10.0.0.0/8 arp_op 2/10 arp_tha 02:00:00:00:00:02/ff:00:00:00:00:00 action drop",
        "protocol 0x88cc action drop",
        "protocol 802.1ad vlan_id 1000 vlan_ethtype 802.1q cvlan_id 100 cvlan_ethtype ipv6 action drop",
        "protocol 802.1q vlan_ethtype 0x1234 action drop",
        "num_of_vlans 2 cvlan_ethtype 0x800 action drop",
        "protocol mpls_mc mpls_label 5 mpls_bos 0 action drop",
        "protocol cfm cfm mdl 3 action drop",
        "protocol ipv6 ip_proto l2tp l2tpv3_sid 1234 action drop",
        "protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 src_ip 127.0.0.2 action drop",
        "protocol 802.1q vlan_ethtype ppp_ses ppp_proto 0x1234 action drop",
        "protocol ppp_ses pppoe_sid 0 action drop",
        "protocol cfm cfm op 47 mdl 0 action drop",
        "protocol ip ip_proto icmp type 8 code 0/3 indev dut0 enc_tos 4/fc action drop",
    ] {
        let first = rule(line);
        let again = rule(&first.to_string());
        assert_eq!(Rule { line: 1, action_col: 0, ..again }, Rule { action_col: 0, ..first }, "{line}");
    }
}

#[test]
fn every_key_bad() {
    let cases = [
            ("src_mac 02:00:00:00:00 action drop", "r.rules:1:9: src_mac expects a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN, found '02:00:00:00:00'"),
            ("dst_mac 02:00:00:00:00:0g action drop", "r.rules:1:9: dst_mac expects a MAC address aa:bb:cc:dd:ee:ff, optionally /MASK or /LEN, found '02:00:00:00:00:0g'"),
            ("dst_mac 02:00:00:00:00:01/49 action drop", "r.rules:1:9: dst_mac prefix length 49 is out of range 0..=48"),
            ("vlan_id 5000 action drop", "r.rules:1:9: vlan_id 5000 is out of range 0..=4095"),
            ("vlan_id ten action drop", "r.rules:1:9: vlan_id expects a decimal number (tc reads it in base 10), found 'ten'"),
            ("vlan_prio 8 action drop", "r.rules:1:11: vlan_prio 8 is out of range 0..=7"),
            ("ip_proto tcpp action drop", "r.rules:1:10: ip_proto expects tcp, udp, sctp, icmp, icmpv6, l2tp, esp, ah or a hex number (tc reads 17 as 0x17), found 'tcpp'"),
            ("ip_proto 100 action drop", "r.rules:1:10: ip_proto 100 (0x100 = 256 to tc, which reads it in hex) is out of range 0..=0xff"),
            ("ip_proto 0x100 action drop", "r.rules:1:10: ip_proto 0x100 is out of range 0..=0xff"),
            ("ip_proto udplite action drop", "r.rules:1:10: ip_proto expects tcp, udp, sctp, icmp, icmpv6, l2tp, esp, ah or a hex number (tc reads 17 as 0x17), found 'udplite'"),
            ("vlan_id 0x10 action drop", "r.rules:1:9: vlan_id expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("src_ip 10.0.0.256 action drop", "r.rules:1:8: src_ip expects an IPv4 or IPv6 address, optionally /LEN, found '10.0.0.256'"),
            ("dst_ip 10.0.0.0/33 action drop", "r.rules:1:8: dst_ip prefix length 33 is out of range 0..=32"),
            ("dst_ip 2001:db8::/129 action drop", "r.rules:1:8: dst_ip prefix length 129 is out of range 0..=128"),
            ("dst_ip 10.0.0.0/255.0.255.0 action drop", "r.rules:1:8: dst_ip mask 255.0.255.0 is not a contiguous netmask like 255.255.255.0"),
            ("ip_proto tcp src_port 65536 action drop", "r.rules:1:23: src_port 65536 is out of range 0..=65535"),
            ("ip_proto tcp dst_port 90-80 action drop", "r.rules:1:23: dst_port range 90-80 is empty (the low end is above the high end)"),
            ("ip_proto tcp dst_port 80/0x1ffff action drop", "r.rules:1:23: dst_port mask 0x1ffff is out of range 0..=65535"),
            ("ip_tos 0x100 action drop", "r.rules:1:8: ip_tos 0x100 is out of range 0..=0xff"),
            ("ip_ttl 1/x action drop", "r.rules:1:8: ip_ttl mask expects a hexadecimal number (tc reads it in base 16, 0x optional), found 'x'"),
            ("ip_proto tcp tcp_flags 0x1000 action drop", "r.rules:1:24: tcp_flags 0x1000 is out of range 0..=0xfff"),
            ("ip_flags frag/frag action drop", "r.rules:1:10: ip_flags frag/frag says frag twice"),
            ("ip_flags fragment action drop", "r.rules:1:10: ip_flags expects frag, nofrag, firstfrag or nofirstfrag (two joined by '/'), found 'fragment'"),
            ("enc_key_id 4294967296 action drop", "r.rules:1:12: enc_key_id 4294967296 is out of range 0..=4294967295"),
            ("enc_src_ip foo action drop", "r.rules:1:12: enc_src_ip expects an IPv4 or IPv6 address, optionally /LEN, found 'foo'"),
            ("enc_dst_ip 1.2.3.4/40 action drop", "r.rules:1:12: enc_dst_ip prefix length 40 is out of range 0..=32"),
            ("enc_dst_port -1 action drop", "r.rules:1:14: enc_dst_port expects a decimal number (tc reads it in base 10), found '-1'"),
            ("prio x action drop", "r.rules:1:6: prio expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("protocol arpp action drop", "r.rules:1:10: protocol expects ip, ipv6, 802.1q, 802.1ad, all, another ethertype name of tc's (arp, mpls_uc, ...) or a number, found 'arpp'"),
            ("proto 0x10000 action drop", "r.rules:1:7: protocol expects ip, ipv6, 802.1q, 802.1ad, all, another ethertype name of tc's (arp, mpls_uc, ...) or a number, found '0x10000' ('proto' is tc's abbreviation of protocol)"),
            ("protocol arp arp_op 3 action drop", "r.rules:1:21: arp_op expects request, reply or 0..=2, found '3'"),
            ("protocol arp arp_sip 2001:db8::1 action drop", "r.rules:1:22: arp_sip expects an IPv4 address, optionally /LEN, found '2001:db8::1'"),
            ("protocol mpls_uc mpls_label 1048576 action drop", "r.rules:1:29: mpls_label 1048576 is out of range 0..=1048575"),
            ("protocol mpls_uc mpls_bos 2 action drop", "r.rules:1:27: mpls_bos 2 is out of range 0..=1"),
            ("protocol mpls_uc mpls_tc 0x1 action drop", "r.rules:1:26: mpls_tc expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol 802.1q vlan_ethtype nonsense action drop", "r.rules:1:30: vlan_ethtype expects an ethertype: a name of tc's (ip, ipv6, arp, 802.1q, mpls_uc, ...) or a number (0x hex), found 'nonsense'"),
            ("indev a/b action drop", "r.rules:1:7: indev expects an interface name (1 to 15 bytes, no '/' or white space, as tc's check_ifname), found 'a/b'"),
            ("indev abcdefghijklmnop action drop", "r.rules:1:7: indev expects an interface name (1 to 15 bytes, no '/' or white space, as tc's check_ifname), found 'abcdefghijklmnop'"),
            ("ip 1 action drop", "r.rules:1:4: ip_flags expects frag, nofrag, firstfrag or nofirstfrag (two joined by '/'), found '1' ('ip' is tc's abbreviation of ip_flags)"),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn every_error_kind_with_its_position() {
    let cases = [
            ("ip_proto tcp dst_prot 80 action drop", "r.rules:1:14: unknown key 'dst_prot' (did you mean dst_port?)"),
            ("frobnicate 1 action drop", "r.rules:1:1: unknown key 'frobnicate'"),
            ("ip_proto udp", "r.rules:1:13: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)"),
            ("src_ip 1.2.3.4   # no action", "r.rules:1:15: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)"),
            ("src_ip 1.2.3.4 src_ip 1.2.3.5 action drop", "r.rules:1:16: duplicate key src_ip"),
            ("prio 1 pref 2 action drop", "r.rules:1:8: duplicate key prio"),
            ("src_ip action drop", "r.rules:1:1: missing value for src_ip (expected an IPv4 or IPv6 address, optionally /LEN)"),
            ("src_ip dst_ip 1.2.3.4 action drop", "r.rules:1:1: missing value for src_ip (expected an IPv4 or IPv6 address, optionally /LEN)"),
            ("action", "r.rules:1:1: missing action after 'action' (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action dorp", "r.rules:1:8: unknown action 'dorp' (did you mean drop?) (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action fwd", "r.rules:1:8: missing port for fwd (expected the dataplane port number, 0-based)"),
            ("action fwd eth1", "r.rules:1:12: fwd port expects a number (decimal or 0x hex), found 'eth1'"),
            ("action fwd 70000", "r.rules:1:12: fwd port 70000 is out of range 0..=65535"),
            ("action encap   ", "r.rules:1:8: missing tunnel spec for encap (expected e.g. vxlan,src=IP,dst=IP,vni=N)"),
            ("action drop src_ip 1.2.3.4", "r.rules:1:13: unexpected 'src_ip' after the action (keys go before the actions)"),
            ("action drop action", "r.rules:1:13: missing action after 'action' (expected drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec)"),
            ("action goto 1", "r.rules:1:13: goto needs `chain N`"),
            ("action police rate 1mbit conform-exceed drop", "r.rules:1:8: police: 'rate' requires 'burst' (the bucket's depth) (as tc/m_police.c requires)"),
            ("action police rate 1mbit burst 1k", "r.rules:1:8: police: without conform-exceed, tc's exceed action is reclassify, which is not supported: write conform-exceed drop[/pipe]"),
            ("action police rate fast burst 1k conform-exceed drop", "r.rules:1:20: police rate expects a rate as tc reads it (e.g. 50mbit, 1gbit, 100kbps; a bare number is bit/s), found 'fast'"),
            ("action skbedit mark 1", "r.rules:1:8: action 'skbedit' is not supported here: skbedit sets socket-buffer fields (priority, mark, queue) that frames here do not have"),
            ("dst_port 80 action drop", "r.rules:1:1: dst_port needs ip_proto tcp, udp or sctp (as in flower)"),
            ("ip_proto icmp src_port 80 action drop", "r.rules:1:15: src_port needs ip_proto tcp, udp or sctp (as in flower), not icmp"),
            ("ip_proto udp tcp_flags 2 action drop", "r.rules:1:14: tcp_flags needs ip_proto tcp (as in flower), not udp"),
            ("protocol ip dst_ip 2001:db8::1 action drop", "r.rules:1:20: dst_ip is an IPv6 address but the rule says `protocol ip`"),
            ("protocol ipv6 src_ip 10.0.0.1 action drop", "r.rules:1:22: src_ip is an IPv4 address but the rule says `protocol ipv6`"),
            ("src_ip 10.0.0.1 dst_ip ::1 action drop", "r.rules:1:24: dst_ip is an IPv6 address but src_ip is IPv4: no packet has both"),
            ("enc_src_ip ::1 enc_dst_ip 10.0.0.1 action drop", "r.rules:1:27: enc_dst_ip is an IPv4 address but enc_src_ip is IPv6: no packet has both"),
            ("chain x action drop", "r.rules:1:7: chain expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("icmp_type 8 action drop", "r.rules:1:1: unknown key 'icmp_type' (flower spells ICMP's type and code `type` and `code`)"),
            ("type 8 action drop", "r.rules:1:1: type needs `protocol ip` with `ip_proto icmp`, or `protocol ipv6` with `ip_proto icmpv6` (as in flower) (the rule has no protocol)"),
            ("protocol ipv6 ip_proto icmp code 0 action drop", "r.rules:1:29: code needs `protocol ip` with `ip_proto icmp`, or `protocol ipv6` with `ip_proto icmpv6` (as in flower), not ipv6"),
            ("arp_op request action drop", "r.rules:1:1: arp_op needs `protocol arp` or `rarp` (as in flower) (the rule has no protocol)"),
            ("protocol ip mpls_ttl 1 action drop", "r.rules:1:13: mpls_ttl needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol arp ip_proto tcp action drop", "r.rules:1:14: ip_proto needs an IP protocol (ip or ipv6) (as in flower), not arp"),
            ("protocol ip vlan_ethtype ip action drop", "r.rules:1:13: vlan_ethtype needs `protocol 802.1q` or `802.1ad`, or num_of_vlans 1 or more (as in flower)"),
            ("protocol 802.1q vlan_ethtype ip cvlan_id 3 action drop", "r.rules:1:33: cvlan_id needs `vlan_ethtype 802.1q` or `802.1ad`, or num_of_vlans 2 or more (as in flower)"),
            ("protocol 802.1q vlan_ethtype ip dst_ip 2001:db8::1 action drop", "r.rules:1:40: dst_ip is an IPv6 address but the rule says `protocol ip`"),
            ("protocol ip mpls lse depth 1 label 0 action drop", "r.rules:1:13: mpls needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol mpls_uc mpls action drop", "r.rules:1:18: mpls needs `lse depth N [label L] [tc T] [bos B] [ttl T]` (as f_flower.c reads it)"),
            ("protocol mpls_uc mpls lse label 1 action drop", "r.rules:1:23: mpls lse needs its depth (depth 1..=7, as f_flower.c requires)"),
            ("protocol mpls_uc mpls lse depth 0 action drop", "r.rules:1:33: mpls lse depth counts from 1 (the top entry) to 7"),
            ("protocol mpls_uc mpls lse depth 8 action drop", "r.rules:1:33: mpls lse depth 8 is out of range 0..=7"),
            ("protocol mpls_uc mpls lse depth 2 lse depth 2 action drop", "r.rules:1:45: mpls lse depth 2 is named twice"),
            ("protocol mpls_uc mpls lse depth 1 label 1048576 action drop", "r.rules:1:41: mpls lse label 1048576 is out of range 0..=1048575"),
            ("protocol mpls_uc mpls lse depth 1 tc 0x1 action drop", "r.rules:1:38: mpls lse tc expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol ip ip_proto udp l2tpv3_sid 1 action drop", "r.rules:1:26: l2tpv3_sid needs ip_proto l2tp (as in flower), not udp"),
            ("protocol ip l2tpv3_sid 1 action drop", "r.rules:1:13: l2tpv3_sid needs ip_proto l2tp (as in flower)"),
            ("ip_proto l2tp l2tpv3_sid 4294967296 action drop", "r.rules:1:26: l2tpv3_sid 4294967296 is out of range 0..=4294967295"),
            ("ip_proto l2tp l2tpv3_sid 0x10 action drop", "r.rules:1:26: l2tpv3_sid expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("ip_proto l2tp l2tpv3_sid 1 l2tpv3_sid 2 action drop", "r.rules:1:28: duplicate key l2tpv3_sid"),
            ("protocol arp ip_proto l2tp l2tpv3_sid 1 action drop", "r.rules:1:14: ip_proto needs an IP protocol (ip or ipv6) (as in flower), not arp"),
            ("protocol ip pppoe_sid 1 action drop", "r.rules:1:13: pppoe_sid needs `protocol ppp_ses` (or `vlan_ethtype ppp_ses`) (as in flower), not ip"),
            ("protocol 802.1q ppp_proto ip action drop", "r.rules:1:17: ppp_proto needs `protocol ppp_ses` (or `vlan_ethtype ppp_ses`) (as in flower) (the rule has no protocol)"),
            ("protocol ppp_ses pppoe_sid 65536 action drop", "r.rules:1:28: pppoe_sid 65536 is out of range 0..=65535"),
            ("protocol ppp_ses pppoe_sid 0x10 action drop", "r.rules:1:28: pppoe_sid expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("protocol ppp_ses ppp_proto ipv4 action drop", "r.rules:1:28: ppp_proto expects ip (tc's usage text says ipv4, but lib/ppp_proto.c names IPv4 `ip` and tc refuses ipv4), found 'ipv4'"),
            ("protocol ppp_ses ppp_proto ipx6 action drop", "r.rules:1:28: ppp_proto expects ip, ipv6, mpls_uc, mpls_mc, lcp, ... (lib/ppp_proto.c's names) or a number, found 'ipx6'"),
            ("protocol ppp_ses ppp_proto 0x10000 action drop", "r.rules:1:28: ppp_proto 0x10000 is out of range 0..=65535"),
            ("protocol ppp_ses dst_ip 10.0.0.1 action drop", "r.rules:1:18: dst_ip needs an IP protocol (ip or ipv6) (as in flower), not ppp_ses"),
            ("protocol ppp_ses ppp_proto lcp dst_ip 10.0.0.1 action drop", "r.rules:1:32: dst_ip needs an IP protocol (ip or ipv6) (as in flower), not ppp_ses"),
            ("protocol ppp_ses ppp_proto ipv6 dst_ip 10.0.0.1 action drop", "r.rules:1:40: dst_ip is an IPv4 address but the rule says `protocol ppp_ses ... ppp_proto ipv6`"),
            ("protocol ppp_ses ppp_proto ip mpls_label 1 action drop", "r.rules:1:31: mpls_label needs `protocol mpls_uc` or `mpls_mc` (as in flower), not ip"),
            ("protocol ip cfm mdl 1 action drop", "r.rules:1:13: cfm needs `protocol cfm` (as in flower), not ip"),
            ("cfm op 1 action drop", "r.rules:1:1: cfm needs `protocol cfm` (as in flower) (the rule has no protocol)"),
            ("protocol cfm cfm mdl 8 action drop", "r.rules:1:22: cfm mdl 8 is out of range 0..=7"),
            ("protocol cfm cfm op 256 action drop", "r.rules:1:21: cfm op 256 is out of range 0..=255"),
            ("protocol cfm cfm op 0x1 action drop", "r.rules:1:21: cfm op expects a decimal number (tc reads it in base 10), found '0x1'"),
            ("protocol cfm cfm mdl 1 mdl 2 action drop", "r.rules:1:24: cfm mdl is named twice"),
            ("protocol cfm cfm mdl 1 cfm op 2 action drop", "r.rules:1:24: duplicate key cfm"),
            ("protocol cfm cfm mdl", "r.rules:1:21: cfm mdl needs a value"),
            ("protocol mpls_uc mpls_ttl 3 mpls lse depth 2 ttl 4 action drop", "r.rules:1:18: mpls_ttl and `mpls lse` cannot be combined (the kernel refuses both): write the top entry as `lse depth 1`"),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn all_errors_of_a_file_at_once_and_nothing_applied() {
    let text = "\
# a file with good and bad lines
prio 1 ip_proto tcp dst_port 80 action drop
vlan_id 5000 action drop
ip_proto udp dst_port 53 action pass

src_ip 1.2.3.4 src_ip 5.6.7.8 action drop
ip_proto tcp
vlan_id 4096 vlan_prio 9 action fwd x
";
    assert_eq!(
            errors(text),
            [
                "r.rules:3:9: vlan_id 5000 is out of range 0..=4095",
                "r.rules:6:16: duplicate key src_ip",
                "r.rules:7:13: missing action (expected `action drop, pass, continue, goto chain N, fwd PORT, mirred egress redirect|mirror dev NAME, police, vlan pop|push|modify, mpls pop|push|modify|dec_ttl, tunnel_key set|unset, pedit [ex] munge ..., csum, gate sched-entry ..., reflect, encap SPEC, decap or ttl-dec`)",
                "r.rules:8:9: vlan_id 4096 is out of range 0..=4095",
                "r.rules:8:24: vlan_prio 9 is out of range 0..=7",
                "r.rules:8:37: fwd port expects a number (decimal or 0x hex), found 'x'",
            ]
        );
}

#[test]
fn actions() {
    let actions: Vec<Action> = rules(
        "action drop\naction pass\naction ok\naction fwd 3\naction reflect\naction decap\naction ttl-dec\n\
             action gact drop\naction gact ok\naction shot\n\
             action encap vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42   # comment\n",
    )
    .into_iter()
    .map(|r| r.actions[0].clone())
    .collect();
    assert_eq!(
        actions,
        [
            Action::Drop,
            Action::Pass,
            Action::Pass,
            Action::Fwd(3),
            Action::Reflect,
            Action::Decap,
            Action::TtlDec,
            Action::Drop,
            Action::Pass,
            Action::Drop,
            Action::Encap("vxlan,src=10.0.0.1,dst=10.0.0.2,vni=42".to_string()),
        ]
    );
}

#[test]
fn mpls_actions_as_tc_reads_them() {
    let lists: Vec<Vec<Action>> = rules(
        "action mpls push protocol mpls_uc label 123 action mirred egress redirect dev eth1\n\
             action mpls pop protocol ipv4\n\
             action mpls pu pr mpls_mc l 0x10 t 5 tt 010 b 1 pipe action mpls p pr mpls_uc action mpls m tt 9 drop\n\
             action mpls dec_ttl action mpls d continue\n\
             action mpls modify label 1048575 bos 0 action fwd 1\n",
    )
    .into_iter()
    .map(|r| r.actions)
    .collect();
    let push = |proto, label, tc, ttl, bos| Action::Mpls(MplsAction::Push { proto, label, tc, ttl, bos });
    let modify = |label, tc, ttl, bos| Action::Mpls(MplsAction::Modify { label, tc, ttl, bos });
    assert_eq!(
        lists,
        [
            vec![push(0x8847, 123, 0, 255, None), Action::Redirect("eth1".into())],
            vec![Action::Mpls(MplsAction::Pop { proto: 0x0800 })],
            vec![
                push(0x8848, 16, 5, 8, Some(1)),
                Action::Mpls(MplsAction::Pop { proto: 0x8847 }),
                modify(None, None, Some(9), None),
                Action::Drop,
            ],
            vec![Action::Mpls(MplsAction::DecTtl), Action::Mpls(MplsAction::DecTtl), Action::Continue],
            vec![modify(Some(0xf_ffff), None, None, Some(0)), Action::Fwd(1)],
        ]
    );
    // Printed back as it reads.
    for line in [
        "mpls push label 123",
        "mpls push protocol mpls_mc label 0 tc 7 ttl 1 bos 0",
        "mpls pop protocol ip",
        "mpls pop protocol teb",
        "mpls pop protocol 0x1234",
        "mpls modify label 5 ttl 64",
        "mpls modify",
        "mpls dec_ttl",
    ] {
        assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
    }
    for (line, message) in [
            ("action mpls", "r.rules:1:8: mpls needs pop, push, modify or dec_ttl (tc/m_mpls.c)"),
            ("action mpls push", "r.rules:1:13: mpls push: label needs to be set (as tc/m_mpls.c requires)"),
            ("action mpls pop", "r.rules:1:13: mpls pop: protocol needs to be set (as tc/m_mpls.c requires): the ethertype of what follows the entry"),
            ("action mpls pop push", "r.rules:1:17: mpls: unexpected 'push': the action is already `pop`"),
            ("action mpls label 5 push", "r.rules:1:13: mpls label is only valid for push and modify (after the word)"),
            ("action mpls pop label 5", "r.rules:1:17: mpls label is only valid for push and modify (after the word)"),
            ("action mpls dec_ttl ttl 5", "r.rules:1:21: mpls ttl is only valid for push and modify (after the word)"),
            ("action mpls modify protocol ip", "r.rules:1:20: mpls protocol is only valid for push and pop (after the word)"),
            ("action mpls push label", "r.rules:1:18: mpls label needs a value"),
            ("action mpls push label 1048576", "r.rules:1:24: mpls label 1048576 is out of range 0..=1048575"),
            ("action mpls push label 3", "r.rules:1:24: mpls label 3: 3 is the implicit null label, never sent (RFC 3032 §2.1); act_mpls refuses it"),
            ("action mpls push label x", "r.rules:1:24: mpls label expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
            ("action mpls push label 1 tc 8", "r.rules:1:29: mpls tc 8 is out of range 0..=7"),
            ("action mpls push label 1 ttl 0", "r.rules:1:30: mpls ttl must be >0 and <=255 (as tc/m_mpls.c requires), found '0'"),
            ("action mpls push label 1 ttl 256", "r.rules:1:30: mpls ttl 256 is out of range 0..=255"),
            ("action mpls modify bos 2", "r.rules:1:24: mpls bos 2 is out of range 0..=1"),
            ("action mpls push protocol ip label 1", "r.rules:1:27: mpls push protocol expects mpls_uc or mpls_mc (as tc/m_mpls.c requires), found 'ip'"),
            ("action mpls pop protocol 0x0004", "r.rules:1:26: mpls pop protocol 0x0004 is not an ethertype (act_mpls wants 0x0600 or more)"),
            ("action mpls pop protocol nosuch", "r.rules:1:26: mpls protocol expects an ethertype name or number (as tc reads it), found 'nosuch'"),
            ("action mpls mac_push label 1", "r.rules:1:13: mpls mac_push: a label stack in front of the Ethernet header is not supported (it needs vlan pop_eth first, and frames here always have one)"),
            ("action mpls index 5", "r.rules:1:13: mpls index: an action shared by index is not supported (write the action out)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
}

#[test]
fn vlan_actions_as_tc_reads_them() {
    let lists: Vec<Vec<Action>> = rules(
        "action vlan pop\n\
             action vlan push id 100 priority 5\n\
             action vlan push id 0x64 protocol 0x88a8\n\
             action vlan p action vlan pu pr 802.1AD i 10 pipe action vlan m id 300 action fwd 1\n\
             action vlan modify priority 7 id 11 drop\n",
    )
    .into_iter()
    .map(|r| r.actions)
    .collect();
    let push = |tpid, vid, prio| Action::Vlan(VlanAction::Push { tpid, vid, prio });
    assert_eq!(
        lists,
        [
            vec![Action::Vlan(VlanAction::Pop)],
            vec![push(0x8100, 100, 5)],
            vec![push(0x88a8, 100, 0)],
            vec![
                Action::Vlan(VlanAction::Pop),
                push(0x88a8, 10, 0),
                Action::Vlan(VlanAction::Modify { tpid: 0x8100, vid: 300, prio: None }),
                Action::Fwd(1),
            ],
            vec![Action::Vlan(VlanAction::Modify { tpid: 0x8100, vid: 11, prio: Some(7) }), Action::Drop],
        ]
    );
    // Printed back as it reads.
    for line in
        ["vlan pop", "vlan push id 100 priority 5", "vlan push id 100 protocol 802.1ad", "vlan modify id 0 priority 0"]
    {
        assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
    }
    for (line, message) in [
            ("action vlan push", "r.rules:1:13: vlan push: id needs to be set (as tc/m_vlan.c requires)"),
            ("action vlan push id 4095", "r.rules:1:21: vlan id 4095 is out of range 0..=4094"),
            ("action vlan modify id 1 priority 8", "r.rules:1:34: vlan priority 8 is out of range 0..=7"),
            ("action vlan push id 1 protocol ip", "r.rules:1:32: vlan protocol expects 802.1q or 802.1ad (as act_vlan accepts), found 'ip'"),
            ("action vlan id 1", "r.rules:1:13: vlan id is only valid for push or modify (after the word)"),
            ("action vlan pop push", "r.rules:1:17: vlan: unexpected 'push': the action is already `pop`"),
            ("action vlan pop_eth", "r.rules:1:13: vlan pop_eth: removing or adding the Ethernet header itself is not supported (frames here always have one)"),
            ("action vlan", "r.rules:1:8: vlan needs pop, push or modify (tc/m_vlan.c)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
}

#[test]
fn pedit_and_csum_as_tc_reads_them() {
    let munge = |field, cmd, value, retain: Option<u32>| {
        let retain = retain.unwrap_or(PeditField::full_retain(field));
        Munge { field, cmd, value, retain }
    };
    let pedit = |extended, munges: Vec<Munge>| Action::Pedit(Pedit { extended, munges });
    use PeditCmd::{Add, Invert, Set};
    use PeditField::*;
    let lists: Vec<Vec<Action>> = rules(
            "action pedit ex munge ip ttl add 0xff pipe action mirred egress redirect dev veth0\n\
             action pedit ex munge eth dst set 11:22:33:44:55:66 munge ip6 src set 2001:db8::1 munge udp dport set 888\n\
             action pedit munge ip tos set 4 retain 0xfc pipe action csum ip tcp\n\
             action pedit e mu ip dst s 10.0.0.1 mu tcp sport se 010 mu ip6 hoplimit d mu tcp flags invert drop\n\
             action pedit munge ip sport set 0x50 munge ip dsf clear munge ip ttl preserve continue\n\
             action csum iph and udp or + sctp pass\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
    let ip6 = u128::from("2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap());
    assert_eq!(
        lists,
        [
            vec![pedit(true, vec![munge(IpTtl, Add, 0xff, None)]), Action::Redirect("veth0".into())],
            vec![
                pedit(
                    true,
                    vec![
                        munge(EthDst, Set, 0x1122_3344_5566, None),
                        munge(Ip6Src, Set, ip6, None),
                        munge(UdpDport, Set, 888, None)
                    ]
                ),
                Action::Pass
            ],
            vec![pedit(false, vec![munge(IpTos, Set, 4, Some(0xfc))]), Action::Csum(1 | 8), Action::Pass],
            vec![
                pedit(
                    true,
                    vec![
                        munge(IpDst, Set, 0x0a00_0001, None),
                        munge(TcpSport, Set, 8, None),
                        munge(Ip6HopLimit, Add, 0xff, None),
                        munge(TcpFlags, Invert, 0, None)
                    ]
                ),
                Action::Drop
            ],
            vec![
                pedit(
                    false,
                    vec![munge(IpSport, Set, 0x50, None), munge(IpTos, Set, 0, None), munge(IpTtl, Set, 0, Some(0))]
                ),
                Action::Continue
            ],
            vec![Action::Csum(1 | 16 | 64), Action::Pass],
        ]
    );
    // Printed back so that it reads the same (pedit and csum with `pipe`: tc's default is pass).
    for line in [
        "pedit ex munge ip ttl add 255 munge eth src set aa:bb:cc:dd:ee:0f pipe",
        "pedit munge ip tos set 2 retain 0xfc munge ip dst set 1.1.1.1 pipe",
        "pedit ex munge ip6 dst set 2001:db8::2 munge ip6 hoplimit add 255 munge tcp flags invert pipe",
        "csum iph tcp udp pipe",
    ] {
        assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
    }
    for (line, message) in [
            ("action pedit", "r.rules:1:8: pedit needs `munge HEADER FIELD set|add|... VALUE` (tc/m_pedit.c)"),
            ("action pedit ex munge", "r.rules:1:17: pedit munge needs a header (eth, ip, ip6, tcp or udp) and field"),
            ("action pedit ex munge offset 10 u8 clear", "r.rules:1:23: pedit munge offset (raw bytes from the IP header) is not supported: a raw write can change lengths, protocols or checksums this dataplane keeps right; name the field (munge ip ttl ...)"),
            ("action pedit ex munge arp op set 1", "r.rules:1:23: pedit munge arp is not a header tc's pedit knows (expected eth, ip, ip6, tcp, udp or offset)"),
            ("action pedit munge eth src set 11:22:33:44:55:66", "r.rules:1:20: pedit munge eth needs `pedit ex` (tc/p_eth.c)"),
            ("action pedit ex munge ip", "r.rules:1:23: pedit munge ip needs a field"),
            ("action pedit ex munge ip ttl", "r.rules:1:26: pedit munge ip ttl needs set, add, decrement, clear, invert or preserve"),
            ("action pedit ex munge ip ttl sub 1", "r.rules:1:30: pedit munge ip ttl: expected set, add, decrement, clear, invert or preserve, found 'sub'"),
            ("action pedit ex munge ip hlim set 1", "r.rules:1:26: pedit munge ip: unknown field 'hlim' (expected src, dst, tos, dsfield, ttl)"),
            ("action pedit ex munge ip protocol set 6", "r.rules:1:26: pedit munge ip protocol is not supported: it changes how the packet is read"),
            ("action pedit ex munge ip6 flow_lbl set 1", "r.rules:1:27: pedit munge ip6 flow_lbl is not supported: not carried out here"),
            ("action pedit ex munge eth type set 0x800", "r.rules:1:27: pedit munge eth type is not supported: it changes how the frame is read"),
            ("action pedit ex munge ip dport set 80", "r.rules:1:26: pedit ex munge ip dport: a field outside the IP header is named by its own header in pedit ex (munge tcp|udp dport) (tc/p_ip.c)"),
            ("action pedit munge ip ttl add 1", "r.rules:1:27: pedit munge ip ttl add needs `pedit ex` (without it tc only sets)"),
            ("action pedit ex munge ip tos decrement", "r.rules:1:30: pedit munge ip tos: decrement is for ttl and hoplimit only (tc/p_ip.c, p_ip6.c)"),
            ("action pedit ex munge eth dst add 1", "r.rules:1:31: pedit munge eth dst add: a 48-bit add is not supported (tc adds to each 32-bit word apart)"),
            ("action pedit ex munge ip ttl set", "r.rules:1:30: pedit munge ip ttl set needs a value"),
            ("action pedit ex munge ip ttl set 256", "r.rules:1:34: pedit munge ip ttl set 256 is out of range 0..=255"),
            ("action pedit ex munge udp dport set 65536", "r.rules:1:37: pedit munge udp dport set 65536 is out of range 0..=65535"),
            ("action pedit ex munge ip src set 1.2.3", "r.rules:1:34: pedit munge ip src set expects an IPv4 address, found '1.2.3'"),
            ("action pedit ex munge ip6 dst set 1.2.3.4", "r.rules:1:35: pedit munge ip6 dst set expects an IPv6 address, found '1.2.3.4'"),
            ("action pedit ex munge eth src set 11:22", "r.rules:1:35: pedit munge eth src set expects a MAC address aa:bb:cc:dd:ee:ff, found '11:22'"),
            ("action pedit ex munge ip tos set 1 retain", "r.rules:1:36: pedit munge ip tos: retain needs a mask"),
            ("action pedit ex munge ip tos set 1 retain 0x1ff", "r.rules:1:43: pedit munge ip tos retain 0x1ff is out of range 0..=255"),
            ("action pedit ex munge ip6 src set ::1 retain 0xff", "r.rules:1:39: pedit munge ip6 src: retain is not supported for fields longer than 32 bits (as tc says)"),
            ("action csum udplite", "r.rules:1:13: csum udplite: UDP-Lite checksums are not kept by this dataplane's rewrites"),
            ("action csum", "r.rules:1:8: csum needs what to update (e.g. csum iph tcp udp) (tc/m_csum.c)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
}

#[test]
fn tunnel_key_as_tc_reads_it() {
    let lists: Vec<Vec<Action>> = rules(
            "action tunnel_key set src_ip 11.11.0.1 dst_ip 11.11.0.2 id 11 action mirred egress redirect dev vxlan0\n\
             action tunnel_key unset pipe action fwd 1\n\
             action tunnel_key s sr 2001:db8::1 ds 2001:db8::2 dst_p 6081 i 16777215 t 0x30 tt ff c no_percpu action drop\n\
             action tunnel_key n src_ip 10.0.0.1 set dst_ip 10.0.0.2 ttl 9 tos 30 nofrag drop\n\
             action tunnel_key u\n",
        )
        .into_iter()
        .map(|r| r.actions)
        .collect();
    let set = |src: &str, dst: &str| TunnelSet {
        src_ip: src.parse().unwrap(),
        dst_ip: dst.parse().unwrap(),
        id: None,
        dst_port: None,
        tos: None,
        ttl: None,
        csum: true,
    };
    let geneve = TunnelSet {
        id: Some(0xff_ffff),
        dst_port: Some(6081),
        tos: Some(0x30),
        ttl: Some(0xff),
        ..set("2001:db8::1", "2001:db8::2")
    };
    let plain = TunnelSet { tos: Some(30), ttl: Some(9), csum: false, ..set("10.0.0.1", "10.0.0.2") };
    assert_eq!(
        lists,
        [
            vec![
                Action::TunnelKey(TunnelKey::Set(TunnelSet { id: Some(11), ..set("11.11.0.1", "11.11.0.2") })),
                Action::Redirect("vxlan0".into())
            ],
            vec![Action::TunnelKey(TunnelKey::Unset), Action::Fwd(1)],
            vec![Action::TunnelKey(TunnelKey::Set(geneve)), Action::Drop],
            vec![Action::TunnelKey(TunnelKey::Set(plain)), Action::Drop],
            vec![Action::TunnelKey(TunnelKey::Unset)],
        ]
    );
    assert!(geneve.is_geneve() && !plain.is_geneve());
    assert_eq!((geneve.udp_port(), plain.udp_port()), (6081, 4789));
    // Printed back as it reads.
    for line in [
        "tunnel_key unset",
        "tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2",
        "tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 100 dst_port 4789 tos 48 ttl 0 nocsum",
        "tunnel_key set src_ip 2001:db8::1 dst_ip 2001:db8::2 dst_port 6081",
    ] {
        assert_eq!(rules(&format!("action {line}\n"))[0].actions[0].to_string(), line);
    }
    for (line, message) in [
            ("action tunnel_key", "r.rules:1:8: tunnel_key needs set or unset (tc/m_tunnel_key.c)"),
            ("action tunnel_key set", "r.rules:1:19: tunnel_key set needs src_ip and dst_ip (as tc/m_tunnel_key.c requires)"),
            ("action tunnel_key set src_ip 1.1.1.1 id 1", "r.rules:1:19: tunnel_key set needs src_ip and dst_ip (as tc/m_tunnel_key.c requires)"),
            ("action tunnel_key set unset", "r.rules:1:23: tunnel_key: unexpected 'unset': the action is already `set`"),
            ("action tunnel_key unset id 1", "r.rules:1:25: tunnel_key unset takes no id (only set does)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 2001:db8::1", "r.rules:1:45: tunnel_key: src_ip and dst_ip must both be IPv4 or both IPv6 (as act_tunnel_key requires)"),
            ("action tunnel_key set src_ip 1.1.1 dst_ip 1.1.1.2", "r.rules:1:30: tunnel_key src_ip expects an IPv4 or IPv6 address, found '1.1.1'"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 16777216", "r.rules:1:56: tunnel_key id 16777216 is out of range 0..=16777215 (a VNI is 24 bits: RFC 7348 §5)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 id 0x10", "r.rules:1:56: tunnel_key id expects a decimal number (tc reads it in base 10), found '0x10'"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 dst_port 65536", "r.rules:1:62: tunnel_key dst_port 65536 is out of range 0..=65535"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 tos 0x100", "r.rules:1:57: tunnel_key tos 0x100 is out of range 0..=0xff"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 ttl", "r.rules:1:53: tunnel_key ttl needs a value"),
            ("action tunnel_key set src_ip 2001:db8::1 nocsum dst_ip 2001:db8::2", "r.rules:1:42: tunnel_key nocsum over IPv6: a zero UDP checksum is not sent over IPv6 here (RFC 8200 §8.1)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 geneve_opts 0102:80:00800022", "r.rules:1:53: tunnel_key geneve_opts: Geneve options (RFC 8926 §3.5) are not built here; Geneve goes without options (dst_port 6081)"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 vxlan_opts 65793", "r.rules:1:53: tunnel_key vxlan_opts: the VXLAN Group Policy extension is not built here; VXLAN goes as RFC 7348 has it"),
            ("action tunnel_key set src_ip 1.1.1.1 dst_ip 1.1.1.2 erspan_opts 1:2:0:0", "r.rules:1:53: tunnel_key erspan_opts: ERSPAN (over GRE) tunnels are not built by tunnel_key here; tunnel_key builds VXLAN or Geneve"),
            ("action tunnel_key h", "r.rules:1:19: tunnel_key help prints tc's usage; it is no action"),
            ("action tunnel_key unset nofra", "r.rules:1:25: unexpected 'nofra' after the action (keys go before the actions)"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
}

#[test]
fn warnings_where_tc_reads_a_number_otherwise() {
    let text = "ip_proto 17 action drop\nip_proto udp dst_port 53 action drop\nprio 010 ip_proto tcp tcp_flags 12 action pass\n";
    let (set, notes) = parse_noted("r.rules", text, &no_check).unwrap();
    assert_eq!(set.rules[0].keys.ip_proto, Some(0x17));
    let notes: Vec<String> = notes.iter().map(ToString::to_string).collect();
    assert_eq!(
        notes,
        [
            "r.rules:1:10: warning: ip_proto 17 is 0x17 (23) to tc, which reads it in hex; for UDP write udp",
            "r.rules:3:6: warning: prio 010 is octal to tc (8)",
            "r.rules:3:33: warning: tcp_flags 12 is 0x12 (18) to tc, which reads it in hex",
        ]
    );
}

#[test]
fn jump_counts_actions_as_tc_does() {
    let r = rules("action vlan pop continue action jump 2 action fwd 1\naction police mtu 100 conform-exceed jump 2 / goto chain 4 action drop action pass\n");
    // tc's actions: vlan pop + continue (0), jump 2 (1), fwd 1 (2): jump 2 skips two, to
    // the fwd, list position 3.
    assert_eq!(r[0].actions, [Action::Vlan(VlanAction::Pop), Action::Continue, Action::Jump(3), Action::Fwd(1)]);
    let Action::Police(police) = &r[1].actions[0] else { panic!() };
    assert_eq!((police.exceed, police.conform), (Control::Jump(2), Control::Goto(4)));
    assert_eq!(
        r[1].to_string(),
        "prio 1 action police mtu 100 conform-exceed jump 2 / goto chain 4 action drop action pass"
    );
    let cases = [
            ("action jump x", "r.rules:1:13: jump expects a decimal number (tc reads it in base 10), found 'x'"),
            ("action jump", "r.rules:1:12: jump needs the count of actions to skip"),
            (
                "action police mtu 100 conform-exceed jump 1 / nope action drop",
                "r.rules:1:47: conform-exceed expects control words (drop, pass/ok, pipe, continue, goto chain N, jump N), found 'nope'",
            ),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn mirred_blockid_is_a_blockcast() {
    let r = rules(
            "tc filter add block 22 protocol ip pref 25 flower dst_ip 10.10.10.10/32 action mirred egress redirect blockid 22\n\
             action mirred egress mirror blockid 0x10 pipe action drop\n",
        );
    assert_eq!(r[0].actions, [Action::Blockcast { block: 22, redirect: true }]);
    assert_eq!(r[1].actions, [Action::Blockcast { block: 16, redirect: false }, Action::Drop]);
    assert_eq!(
        r[1].to_string(),
        "prio 25 action mirred egress mirror blockid 16 action drop",
        "prio as the line before"
    );
    assert!(r[0].single_action().is_none(), "the kernel emitters leave it to the dataplane");
    let cases = [
            ("action mirred egress mirror blockid 0", "r.rules:1:37: mirred blockid 0 is no block (blocks are numbered from 1)"),
            ("action mirred egress mirror blockid", "r.rules:1:29: mirred blockid needs the block's number (1..=4294967295)"),
            ("action mirred egress mirror blockid x", "r.rules:1:37: mirred blockid expects a number (decimal, 0x hex or 0-prefixed octal, as tc reads it), found 'x'"),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn police_index_shares_one_definition() {
    let r = rules(
        "ip_proto udp action police rate 1mbit burst 10k conform-exceed drop/pipe i 7 action pass\n\
             ip_proto tcp action police index 7 action fwd 1\n",
    );
    let (Action::Police(first), Action::Police(second)) = (&r[0].actions[0], &r[1].actions[0]) else { panic!() };
    assert_eq!((first, first.index), (second, Some(7)), "the reference takes the definition");
    let printed =
        "prio 1 ip_proto tcp action police rate 1000000bit burst 10240 conform-exceed drop/pipe index 7 action fwd 1";
    assert_eq!(r[1].to_string(), printed);
    let cases = [
            ("action police index 3 action pass", "r.rules:1:1: police index 3: no rule of this file defines it (give one rule its rate and burst, or mtu, with index 3)"),
            ("action police index 3 conform-exceed drop action pass", "r.rules:1:8: police index 3 alone shares a policer: its verdicts are those of the rule that defines it, give them there"),
            ("action police index x", "r.rules:1:21: police index expects a decimal number (tc reads it in base 10), found 'x'"),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
    let twice = "action police mtu 1500 conform-exceed drop index 3 action pass\n\
                     action police mtu 1400 conform-exceed drop index 3 action pass\n";
    assert_eq!(errors(twice), ["r.rules:2:1: police index 3 is defined again, otherwise than at line 1 (tc would keep that one): write `police index 3` alone to share it"]);
}

#[test]
fn gate_reads_as_tc_m_gate_c() {
    let entry = |open, interval, ipv, max_octets| GateEntry { open, interval, ipv, max_octets };
    let gate = |r: &Rule| match &r.actions[0] {
        Action::Gate(gate) => gate.clone(),
        other => panic!("{other:?}"),
    };
    // The man page's line: times with units, -1 the wildcard IPV, 8000000b a size.
    let r = rules("action gate index 2 clockid CLOCK_TAI base-time 200000000000ns sched-entry open 200000000ns -1 8000000b sched-entry close 100000000ns\n");
    assert_eq!(
        gate(&r[0]),
        Gate {
            index: Some(2),
            clock: GateClock::Tai,
            base_time: 200_000_000_000,
            cycle_time: 0,
            cycle_time_ext: 0,
            priority: -1,
            flags: 0,
            entries: vec![entry(true, 200_000_000, -1, Some(8_000_000)), entry(false, 100_000_000, -1, None)],
            control: Control::Pipe,
        }
    );
    assert_eq!((gate(&r[0]).cycle(), r[0].actions.len()), (300_000_000, 1));
    // Abbreviations in m_gate.c's order (`c` is cycle-time, `cl` clockid), CLOSE in any
    // case, the prefix CLOCK_ optional, an interval read as a number first (010 is
    // octal), IPV and MAXOCTETS wildcards on a close entry, 0b no limit, `0` a limit.
    let r = rules("action gate i 5 cl realtime b 1.5s c 2ms cycle-time-e 10us sched-entry CLOSE 010 3 100 sched-entry OPEN 1ms 7 0b sched-entry open 1ms -1 0 drop\n");
    let g = gate(&r[0]);
    assert_eq!(
        (g.index, g.clock, g.base_time, g.cycle_time, g.cycle_time_ext),
        (Some(5), GateClock::Realtime, 1_500_000_000, 2_000_000, 10_000)
    );
    assert_eq!(
        g.entries,
        [entry(false, 8, -1, None), entry(true, 1_000_000, 7, None), entry(true, 1_000_000, -1, Some(0))]
    );
    assert_eq!(g.control, Control::Drop);
    // A lone `gate index N` takes the definition; printed back as it reads.
    let r = rules("action gate index 12 sched-entry close 200000000ns clockid CLOCK_BOOTTIME priority 3 flags 0x1 pass\naction gate index 12 action fwd 1\n");
    assert_eq!(gate(&r[0]), gate(&r[1]));
    let printed = "prio 1 action gate index 12 clockid CLOCK_BOOTTIME priority 3 flags 0x1 sched-entry close 200000000 pass action fwd 1";
    assert_eq!(r[1].to_string(), printed);
    assert_eq!(rules(&format!("{printed}\n"))[0].actions, r[1].actions);
    for (line, message) in [
            ("action gate", "r.rules:1:8: gate: must add at least one sched-entry (as tc/m_gate.c requires)"),
            ("action gate base-time 5", "r.rules:1:8: gate: must add at least one sched-entry (as tc/m_gate.c requires)"),
            ("action gate sched-entry", "r.rules:1:13: gate sched-entry needs open or close, and an interval"),
            ("action gate sched-entry opened 5", "r.rules:1:25: gate sched-entry expects open or close, found 'opened'"),
            ("action gate sched-entry open", "r.rules:1:25: gate sched-entry needs an interval after open or close"),
            ("action gate sched-entry open 0", "r.rules:1:30: gate sched-entry interval 0: act_gate refuses an empty interval"),
            ("action gate sched-entry open 5s", "r.rules:1:30: gate sched-entry interval 5s is too large (at most 4294967295 ns)"),
            ("action gate sched-entry open 5m", "r.rules:1:30: gate sched-entry interval expects a time as tc reads it (e.g. 200ms, 100us; a bare number is ns), found '5m'"),
            ("action gate sched-entry open 5 1 3g", "r.rules:1:34: gate sched-entry maxoctets 3g is too large (at most 2147483647)"),
            ("action gate sched-entry open 5 clockid CLOCK_FOO", "r.rules:1:40: gate clockid expects CLOCK_TAI, CLOCK_REALTIME, CLOCK_BOOTTIME or CLOCK_MONOTONIC, found 'CLOCK_FOO'"),
            ("action gate index x sched-entry open 5", "r.rules:1:19: gate index expects a decimal number 0..=4294967295 (tc reads it in base 10), found 'x'"),
            ("action gate cycle-time -5 sched-entry open 5", "r.rules:1:24: gate cycle-time -5 is negative (act_gate reads it as unsigned ns)"),
            ("action gate base-time soon sched-entry open 5", "r.rules:1:23: gate base-time expects a time as tc reads it (e.g. 200ms, 1.5s, 100us; a bare number is ns), found 'soon'"),
            ("action gate priority high sched-entry open 5", "r.rules:1:22: gate priority expects a 32-bit signed number (decimal, 0x hex or 0-octal), found 'high'"),
            ("action gate sched-entry open 5 help", "r.rules:1:32: gate help: tc prints its usage here and adds nothing"),
            ("action gate sched-entry open 5 8000000b", "r.rules:1:32: unexpected '8000000b' after the action (keys go before the actions)"),
            ("action gate index 3 action pass", "r.rules:1:1: gate index 3: no rule of this file defines it (give one rule its sched-entry list with index 3)"),
            ("action gate index 3 base-time 1 action pass", "r.rules:1:8: gate index 3 alone shares a gate: its schedule and control word are those of the rule that defines it (the kernel binds to it and ignores these), give them there"),
            ("action gate index 3 drop", "r.rules:1:8: gate index 3 alone shares a gate: its schedule and control word are those of the rule that defines it (the kernel binds to it and ignores these), give them there"),
        ] {
            assert_eq!(error(line), message, "{line}");
        }
    let twice =
        "action gate index 3 sched-entry open 5 action pass\naction gate index 3 sched-entry open 6 action pass\n";
    assert_eq!(errors(twice), ["r.rules:2:1: gate index 3 is defined again, otherwise than at line 1 (tc would keep that one): write `gate index 3` alone to share it"]);
}

#[test]
fn mpls_lse_matches_entries_by_depth() {
    let r = rules(
        "protocol mpls_uc mpls lse depth 1 label 21 ttl 64 lse depth 2 label 22 bos 1 action drop\n\
             protocol mpls_mc mpls l dep 3 action drop\n",
    );
    let lses = r[0].keys.mpls_lses.expect("lses");
    assert_eq!(lses[0], MplsLse { used: true, label: Some(21), ttl: Some(64), ..MplsLse::default() });
    assert_eq!(lses[1], MplsLse { used: true, label: Some(22), bos: Some(1), ..MplsLse::default() });
    assert!(lses[2..].iter().all(|lse| !lse.used));
    assert_eq!(
        r[0].to_string(),
        "prio 1 protocol mpls_uc mpls lse depth 1 label 21 ttl 64 lse depth 2 label 22 bos 1 action drop"
    );
    assert_eq!(r[1].to_string(), "prio 1 protocol mpls_mc mpls lse depth 3 action drop");
    // RFC 3032 §2.1: label (20 bits), TC (3), S (1), TTL (8).
    let entry = |label: u32, bos: u32, ttl: u32| label << 12 | bos << 8 | ttl;
    let stack = |entries: &[u32]| {
        let mut key = PacketKey { ethertype: 0x8847, has_mpls: true, mpls_lse: entries[0], ..PacketKey::default() };
        key.mpls_entries = entries.len() as u8;
        key.mpls_deeper[..entries.len() - 1].copy_from_slice(&entries[1..]);
        key
    };
    assert!(r[0].matches(&stack(&[entry(21, 0, 64), entry(22, 1, 9)])));
    assert!(!r[0].matches(&stack(&[entry(21, 0, 64), entry(22, 0, 9)])), "bos differs");
    assert!(!r[0].matches(&stack(&[entry(21, 1, 64)])), "no second entry");
    let three = PacketKey { ethertype: 0x8848, ..stack(&[entry(1, 0, 1), entry(2, 0, 1), entry(3, 1, 1)]) };
    assert!(r[1].matches(&three) && !r[1].matches(&PacketKey { ethertype: 0x8848, ..stack(&[entry(1, 1, 1)]) }));
}

#[test]
fn l2tpv3_sid_matches_the_session() {
    let r = rules("protocol ip ip_proto l2tp l2tpv3_sid 1234 action drop\n");
    let l2tp =
        |has, sid| PacketKey { has_l2tpv3: has, l2tpv3_sid: sid, ..PacketKey::ipv4_5tuple([1; 4], [2; 4], 115, 0, 0) };
    assert!(r[0].matches(&l2tp(true, 1234)) && !r[0].matches(&l2tp(true, 1235)));
    assert!(!r[0].matches(&l2tp(false, 1234)), "no header, no session");
    assert_eq!(r[0].to_string(), "prio 1 protocol ip ip_proto l2tp l2tpv3_sid 1234 action drop");
}

#[test]
fn pppoe_keys_match_the_session_as_cls_flower_does() {
    let r = rules(
        "protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 action drop\n\
             protocol ppp_ses pppoe_sid 7 action drop\n\
             protocol ppp_ses action drop\n\
             protocol ip dst_ip 127.0.0.1 action drop\n\
             protocol 802.1q vlan_ethtype ip action drop\n\
             ip_proto udp dst_port 53 action drop\n",
    );
    let ip = PacketKey { has_l2: true, ..PacketKey::ipv4_5tuple([127, 0, 0, 2], [127, 0, 0, 1], 17, 1, 53) };
    let session = |sid, ppp_proto, ip: PacketKey| PacketKey {
        ethertype: 0x8864,
        has_pppoe: true,
        pppoe_sid: sid,
        ppp_proto,
        ..ip
    };
    let v4 = session(1234, 0x21, ip);
    assert!(r[0].matches(&v4) && !r[0].matches(&session(1235, 0x21, ip)));
    assert!(!r[0].matches(&PacketKey { dst_ip: 9, ..v4 }), "the session's IP");
    assert!(r[1].matches(&session(7, 0x21, ip)) && r[1].matches(&session(7, 0xc021, PacketKey::default())));
    // Without PPPoE keys, `protocol ppp_ses` is the flow dissector's n_proto: a session
    // carrying IP ends on IP, so only the others match (cls_flower.c, fl_set_key_pppoe).
    assert!(!r[2].matches(&v4) && r[2].matches(&session(1, 0xc021, PacketKey::default())));
    // A PPPoE frame's protocol is PPPoE, not ip; a tagged one's n_proto is its IP's.
    assert!(!r[3].matches(&v4) && r[3].matches(&ip));
    let tagged = PacketKey { has_vlan: true, num_vlans: 1, ..v4 };
    assert!(r[4].matches(&tagged));
    // IP keys see a session's IP only where the rule names the session.
    assert!(!r[5].matches(&v4) && r[5].matches(&ip));
    assert_eq!(r[0].to_string(), "prio 1 protocol ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 action drop");
}

#[test]
fn cfm_matches_level_and_opcode() {
    let r = rules("protocol cfm cfm mdl 5 op 41 action drop\nprotocol cfm cfm op 1 action drop\n");
    let pdu =
        |mdl, op| PacketKey { ethertype: 0x8902, has_cfm: true, cfm_mdl: mdl, cfm_op: op, ..PacketKey::default() };
    assert!(r[0].matches(&pdu(5, 41)) && !r[0].matches(&pdu(4, 41)) && !r[0].matches(&pdu(5, 1)));
    assert!(r[1].matches(&pdu(0, 1)) && r[1].matches(&pdu(7, 1)) && !r[1].matches(&pdu(7, 3)));
    // A CFM ethertype without the header (too short) matches no `cfm` key.
    assert!(!r[1].matches(&PacketKey { has_cfm: false, ..pdu(0, 1) }));
}

#[test]
fn egress_rules_keep_their_device_and_chains_of_their_own() {
    let set = parse(
        "r.rules",
        "tc filter add dev swp2 egress protocol ip pref 1 handle 101 flower dst_ip 192.0.2.2 action drop\n\
             egress prio 2 chain 3 action pass\n\
             tc filter add dev swp1 ingress prio 1 action goto chain 3\n\
             dev swp1 prio 4 action drop\n",
    )
    .unwrap();
    let hooks: Vec<&Hook> = set.rules.iter().map(|r| &r.hook).collect();
    let swp2 = Hook::Egress { dev: Some("swp2".into()) };
    assert_eq!(hooks, [&swp2, &Hook::Egress { dev: None }, &Hook::Ingress, &Hook::Ingress]);
    // Ingress matching sees only the ingress rules; its chain 3 is empty.
    assert_eq!((set.order.as_slice(), set.chain(3)), (&[2, 3][..], &[][..]));
    let (swp2_set, index) = set.egress_of("swp2").unwrap();
    assert_eq!((index.as_slice(), swp2_set.order.as_slice(), swp2_set.chain(3)), (&[0, 1][..], &[0][..], &[1][..]));
    assert_eq!(set.egress_of("swp1").unwrap().1, [1], "the rule of every port");
    assert_eq!(set.rules[0].to_string(), "dev swp2 egress prio 1 protocol ip dst_ip 192.0.2.2 action drop");
    assert!(set.rules[0].single_action().is_none(), "the kernel emitters leave egress rules to the dataplane");
    let cases = [
        (
            "dev a/b egress action drop",
            "r.rules:1:5: dev a/b is not an interface name (1 to 15 bytes, no '/' or white space, not '.' or '..')",
        ),
        ("dev a dev b egress action drop", "r.rules:1:7: duplicate key dev"),
    ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn action_attributes_are_read_as_m_action_reads_them() {
    let r = rules(
        "action drop cookie 0123456789abcdef0123456789abcdef\n\
             action drop hw_stats disabled\n\
             action vlan pop pipe cookie 00ff hw_st imm no_percpu skip_hw action fwd 1\n",
    );
    assert_eq!(r[0].actions, [Action::Drop]);
    assert_eq!(r[1].actions, [Action::Drop]);
    assert_eq!(r[2].actions, [Action::Vlan(VlanAction::Pop), Action::Fwd(1)]);
    let cases = [
            ("action drop cookie 123", "r.rules:1:20: cookie 123 is not a hex string of an even number of digits, as tc requires"),
            ("action drop cookie 0123456789abcdef0123456789abcdef00", "r.rules:1:20: cookie 0123456789abcdef0123456789abcdef00 is not at most 16 bytes (32 digits), as tc requires"),
            ("action drop cookie", "r.rules:1:19: cookie needs a value (hex, an even number of digits, at most 32)"),
            ("action drop hw_stats any", "r.rules:1:22: hw_stats expects immediate, delayed or disabled"),
            ("action drop skip_sw", "r.rules:1:13: skip_sw puts the action in hardware only, and this dataplane programs no NIC (skip_hw is accepted)"),
            ("ip_proto tcp skip_sw action drop", "r.rules:1:14: flower key 'skip_sw' is not supported here: skip_sw puts the rule in hardware only (tc refuses it on a device that cannot offload it), and this dataplane programs no NIC (skip_hw is accepted)"),
        ];
    for (line, want) in cases {
        assert_eq!(error(line), want, "{line}");
    }
}

#[test]
fn line_and_action_col() {
    let r = rules("\n# c\n  ip_proto tcp   action drop\n");
    assert_eq!((r[0].line, r[0].action_col), (3, 18));
}

#[test]
fn pasted_tc_lines() {
    let r = rules(
        "tc filter add dev eth0 ingress prio 1 protocol ip flower ip_proto udp dst_port 4789 action drop\n\
             tc filter replace dev eth0 parent ffff: pref 7 chain 0 handle 0x1 protocol ipv6 flower skip_hw \
             dst_ip 2001:db8::/32 action gact drop\n\
             tc filter add dev eth0 ingress proto 802.1Q flower skip_hw vlan_id 10 classid 1:1 action ok\n\
             filter change block 3 root flowid 1:2 protocol all flower verbose action pass\n",
    );
    assert_eq!(r[0].prio, 1);
    assert_eq!(r[0].protocol, Protocol::Ipv4);
    assert_eq!(r[0].keys.ip_proto, Some(17));
    assert_eq!(r[0].keys.dst_port, Some(PortMatch::exact(4789)));
    assert_eq!(r[0].actions[0], Action::Drop);
    assert_eq!(r[1].prio, 7);
    assert_eq!(r[1].protocol, Protocol::Ipv6);
    assert_eq!(r[1].actions[0], Action::Drop);
    assert_eq!(
        (r[2].prio, r[2].protocol, r[2].keys.vlan_id, r[2].actions[0].clone()),
        (7, Protocol::Vlan, Some(10), Action::Pass)
    );
    assert_eq!(r[3].protocol, Protocol::All);

    // mirred by device name (tc/m_mirred.c), its words abbreviated as tc allows.
    let r = rules(
        "tc filter add dev eth0 ingress flower action mirred egress redirect dev eth1 pipe\n\
                       ip_proto tcp action mirred egr red dev dut0\n",
    );
    assert_eq!(
        (r[0].actions[0].clone(), r[1].actions[0].clone()),
        (Action::Redirect("eth1".into()), Action::Redirect("dut0".into()))
    );
    assert_eq!(r[0].to_string(), "prio 1 action mirred egress redirect dev eth1");
    let r = rules("action mirred egress mirror dev eth1 action mirred egress redirect dev eth2\n");
    assert_eq!(r[0].actions, [Action::Mirror("eth1".into()), Action::Redirect("eth2".into())]);
    assert_eq!(
            error("action mirred ingress redirect dev eth1"),
            "r.rules:1:15: mirred ingress (back into a device's receive path) has no counterpart here: frames leave by egress"
        );
    assert_eq!(
        error("action mirred egress redirect eth1"),
        "r.rules:1:31: mirred expects dev NAME, found 'eth1' (expected `mirred egress redirect|mirror dev NAME`)"
    );
    assert_eq!(
        error("tc filter del dev eth0 ingress prio 1"),
        "r.rules:1:11: only `tc filter add|replace|change` lines are rules, found 'del'"
    );
    assert_eq!(
        error("tc qdisc add dev eth0 clsact"),
        "r.rules:1:4: expected 'filter' after 'tc' (only `tc filter add|replace|change` lines are rules)"
    );
    assert_eq!(
        error("tc filter add dev eth0 ingress u32 match ip dst 1.2.3.4/32 action drop"),
        "r.rules:1:32: only flower filters can be read, this is a 'u32' filter"
    );
    assert_eq!(
        error("tc filter add dev eth0 ingress flower action gact reclassify"),
        "r.rules:1:51: reclassify (matching again from the start) is not supported: write goto chain N"
    );
}

#[test]
fn prio_inherits_from_the_rule_before() {
    let prios: Vec<u32> = rules("action drop\nprio 5 action drop\naction drop\n# c\nprio 2 action drop\naction drop\n")
        .iter()
        .map(|r| r.prio)
        .collect();
    assert_eq!(prios, [1, 5, 5, 2, 2]);
}

#[test]
fn comments_blank_lines_whitespace_crlf() {
    let r = rules("# only a comment\n\n   \t\nip_proto tcp action drop   \t# trailing\r\n\taction pass\r\n");
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].line, r[1].line), (4, 5));
    assert_eq!(r[1].action_col, 2);
    assert!(parse("empty", "").unwrap().is_empty());
}

#[test]
fn a_line_past_the_limit_is_one_error_at_the_column_past_it() {
    let long = format!("ip_proto tcp action drop # {}", "x".repeat(MAX_LINE_BYTES));
    let text = format!("action drop\n{long}\nbogus_key 1 action drop\n");
    let all = errors(&text);
    assert_eq!(
        all,
        [
            format!(
                "r.rules:2:{}: line of {} bytes: a line may hold at most {MAX_LINE_BYTES} bytes",
                MAX_LINE_BYTES + 1,
                long.len()
            ),
            "r.rules:3:1: unknown key 'bogus_key'".to_string(),
        ]
    );
    // Exactly at the limit is a line like any other.
    let at_limit = format!("action drop #{}", "x".repeat(MAX_LINE_BYTES - 13));
    assert_eq!(at_limit.len(), MAX_LINE_BYTES);
    assert_eq!(rules(&at_limit).len(), 1);
    // The column counts characters: multi-byte ones before the limit.
    let wide = format!("action drop # {}", "é".repeat(MAX_LINE_BYTES));
    let (col, _) = check_line_length(&wide).unwrap_err();
    assert_eq!(col, 14 + (MAX_LINE_BYTES - 14) / 2 + 1);
}

#[test]
fn a_word_past_the_limit_is_an_error_at_the_word() {
    let word = "y".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(
        error(&format!("ip_proto tcp {word} action drop")),
        format!("r.rules:1:14: word of {} bytes: a word may hold at most {MAX_TOKEN_BYTES} bytes", word.len())
    );
    // A word at the limit is read (and here is an unknown key, without a suggestion).
    let word = "y".repeat(MAX_TOKEN_BYTES);
    assert_eq!(error(&format!("{word} action drop")), format!("r.rules:1:1: unknown key '{word}'"));
}

#[test]
fn bounded_edit_distance_agrees_with_the_full_one_within_its_bound() {
    // The plain matrix distance (optimal string alignment), as a reference.
    fn full(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for i in 0..=a.len() {
            for j in 0..=b.len() {
                d[i][j] = if i == 0 || j == 0 {
                    i + j
                } else {
                    let cost = usize::from(a[i - 1] != b[j - 1]);
                    let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
                    if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                        best = best.min(d[i - 2][j - 2] + 1);
                    }
                    best
                };
            }
        }
        d[a.len()][b.len()]
    }
    let words = ["", "a", "ab", "ba", "dst_port", "dst_prot", "dts_port", "src_ip", "sport", "ip_proto", "éa"];
    for a in words {
        for b in words.iter().chain(KEYS.iter()) {
            for bound in 0..4 {
                let want = Some(full(a, b)).filter(|&d| d <= bound);
                assert_eq!(edit_distance_within(a, b, bound), want, "{a:?} {b:?} within {bound}");
            }
        }
    }
}

#[test]
fn suggestions_for_huge_words_cost_nothing() {
    let huge = "k".repeat(10 << 20);
    assert_eq!(did_you_mean(&huge, KEYS), "");
    assert_eq!(did_you_mean("dst_prot", KEYS), " (did you mean dst_port?)");
    assert_eq!(did_you_mean("drpo", ACTIONS), " (did you mean drop?)");
}

/// A 10 MB word in a rules file: one error, short, found after a length check (the file
/// is read, 10 MB; nothing is compared with it). The generous timeout only catches a
/// return of the quadratic suggestion (gigabytes, minutes), it does not time anything.
#[test]
fn a_ten_megabyte_word_in_a_file_is_refused_fast() {
    let path = std::env::temp_dir().join(format!("rules-parse-huge-{}.rules", std::process::id()));
    let text = format!("action drop\n{} action drop\nip_proto udp action pass\n", "z".repeat(10 << 20));
    std::fs::write(&path, text).unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    let reading = path.clone();
    std::thread::spawn(move || send.send(parse_file(&reading, Format::Native)));
    let result = receive.recv_timeout(std::time::Duration::from_secs(60));
    let _ = std::fs::remove_file(&path);
    let errors = result.expect("parsing a 10 MB word took over a minute").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].line, errors[0].col), (2, MAX_LINE_BYTES + 1));
    assert!(errors[0].to_string().len() < 200, "the error echoes the word: {} bytes", errors[0].to_string().len());
}

#[test]
fn files_past_the_size_limit_or_not_utf8_are_one_error() {
    let dir = std::env::temp_dir();
    let big = dir.join(format!("rules-parse-big-{}.rules", std::process::id()));
    // Sparse: its size says it is too big, and nothing is read.
    std::fs::File::create(&big).unwrap().set_len(MAX_RULES_FILE_BYTES + 1).unwrap();
    let errors = parse_file(&big, Format::Native).unwrap_err();
    let _ = std::fs::remove_file(&big);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].message,
        format!("{} bytes is larger than the 64 MiB this reader accepts", MAX_RULES_FILE_BYTES + 1)
    );
    let bad = dir.join(format!("rules-parse-latin1-{}.rules", std::process::id()));
    std::fs::write(&bad, b"action drop\nip_proto tcp \xe9 action drop\n").unwrap();
    let errors = parse_file(&bad, Format::Native).unwrap_err();
    let _ = std::fs::remove_file(&bad);
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!("{}:2:14: not UTF-8 text (invalid byte at offset 25)", bad.display())]
    );
}

#[test]
fn file_errors() {
    let missing = Path::new("/nonexistent/dir/rules.txt");
    let errors = parse_file(missing, Format::Native).unwrap_err();
    assert_eq!(errors.len(), 1);
    let shown = errors[0].to_string();
    assert!(shown.starts_with("/nonexistent/dir/rules.txt: cannot read: "), "{shown}");

    let path = std::env::temp_dir().join(format!("rules-parse-test-{}.rules", std::process::id()));
    std::fs::write(&path, "ip_proto tcp dst_port 22 action drop\n").unwrap();
    let set = parse_file(&path, Format::Native);
    let _ = std::fs::remove_file(&path);
    assert_eq!(set.unwrap().len(), 1);
    assert_eq!("classbench".parse::<Format>(), Ok(Format::Classbench));
    assert!("xml".parse::<Format>().is_err());
}

/// The reference classifier gives the expected answers on a hand-written file: prio order
/// over file order, and "no prio" inheriting the previous rule's.
#[test]
fn linear_on_a_small_file() {
    let text = "\
# 0: ssh to the admin net, first among prio 10
prio 10 protocol ip ip_proto tcp dst_ip 10.0.0.0/8 dst_port 22 action pass
# 1: inherits prio 10, after rule 0
ip_proto tcp dst_port 1-1023 action drop
# 2: prio 5: before both
prio 5 protocol ip src_ip 192.0.2.0/24 action fwd 1
# 3: inherits prio 5, after rule 2
ip_proto udp dst_port 53 action pass
# 4: catch-all last
prio 100 action drop
";
    let set = parse("small.rules", text).unwrap();
    assert_eq!(set.order, [2, 3, 0, 1, 4]);
    let linear = Linear::new(&set);
    let tcp = |src: [u8; 4], dst: [u8; 4], port| PacketKey::ipv4_5tuple(src, dst, 6, 40000, port);
    let udp = |src: [u8; 4], dst: [u8; 4], port| PacketKey::ipv4_5tuple(src, dst, 17, 40000, port);
    assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [10, 1, 2, 3], 22)), Some(0));
    assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [11, 1, 2, 3], 22)), Some(1));
    assert_eq!(linear.classify(&tcp([192, 0, 2, 9], [10, 1, 2, 3], 22)), Some(2));
    assert_eq!(linear.classify(&udp([192, 0, 2, 9], [10, 1, 2, 3], 53)), Some(2));
    assert_eq!(linear.classify(&udp([1, 1, 1, 1], [10, 1, 2, 3], 53)), Some(3));
    assert_eq!(linear.classify(&tcp([1, 1, 1, 1], [10, 1, 2, 3], 8080)), Some(4));
    let none = PacketKey::default();
    assert_eq!(linear.classify(&none), Some(4));
    let only_specific = parse("s.rules", "prio 3 ip_proto udp action drop\nprio 1 ip_proto tcp action pass\n").unwrap();
    assert_eq!(Linear::new(&only_specific).classify(&none), None);
    assert_eq!(Linear::new(&only_specific).classify(&udp([1; 4], [2; 4], 9)), Some(0));
}

#[test]
fn display_examples() {
    let line = "prio 3 protocol ip src_mac 02:00:00:00:00:00/ff:ff:ff:00:00:00 ip_proto tcp src_ip 10.0.0.0/8 \
                    dst_port 1024-2047 tcp_flags 0x2/0x12 ip_flags frag/nofirstfrag enc_key_id 42 action encap vxlan,vni=1";
    let rule = rules(line).remove(0);
    assert_eq!(rule.to_string(), line);
    assert_eq!(rules("action fwd 2").remove(0).to_string(), "prio 1 action fwd 2");
}

// ---- round trip

fn masked_u8_strategy() -> impl Strategy<Value = Masked<u8>> {
    (any::<u8>(), prop_oneof![Just(0xffu8), any::<u8>()]).prop_map(|(v, m)| Masked::<u8>::new(v, m))
}

fn prefix_strategy(v6: bool) -> BoxedStrategy<Prefix> {
    if v6 {
        (any::<[u8; 16]>(), 0u8..=128).prop_map(|(a, l)| Prefix::v6(a, l)).boxed()
    } else {
        (any::<[u8; 4]>(), 0u8..=32).prop_map(|(a, l)| Prefix::v4(a, l)).boxed()
    }
}

fn port_strategy() -> impl Strategy<Value = PortMatch> {
    prop_oneof![
        any::<u16>().prop_map(PortMatch::exact),
        (any::<u16>(), any::<u16>()).prop_map(|(v, m)| PortMatch::Masked(Masked::<u16>::new(v, m))),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| PortMatch::Range { lo: a.min(b), hi: a.max(b) }),
    ]
}

fn mac_strategy() -> impl Strategy<Value = Masked<u64>> {
    (0..=MAC_BITS, prop_oneof![Just(MAC_BITS), 0..=MAC_BITS]).prop_map(|(v, m)| Masked::<u64>::new(v, m))
}

/// What `tunnel_key set` accepts: one family, `nocsum` over IPv4 only.
fn tunnel_set() -> impl Strategy<Value = TunnelSet> {
    let addresses = prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
        (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(a, b)| (IpAddr::from(a), IpAddr::from(b))),
    ];
    let numbers = (
        proptest::option::of(0..=0xff_ffffu32),
        proptest::option::of(prop_oneof![Just(4789u16), Just(6081), any::<u16>()]),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u8>()),
    );
    (addresses, numbers, any::<bool>()).prop_map(|((src_ip, dst_ip), (id, dst_port, tos, ttl), csum)| TunnelSet {
        src_ip,
        dst_ip,
        id,
        dst_port,
        tos,
        ttl,
        csum: csum || src_ip.is_ipv6(),
    })
}

fn action_strategy() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Drop),
        Just(Action::Pass),
        any::<u16>().prop_map(Action::Fwd),
        "[a-z][a-z0-9]{0,7}".prop_map(Action::Redirect),
        Just(Action::Reflect),
        "[a-z0-9=,.:]{1,30}( [a-z0-9=,.]{1,10})?".prop_map(Action::Encap),
        Just(Action::Decap),
        Just(Action::TtlDec),
        Just(Action::Vlan(VlanAction::Pop)),
        Just(Action::TunnelKey(TunnelKey::Unset)),
        tunnel_set().prop_map(|set| Action::TunnelKey(TunnelKey::Set(set))),
        (prop_oneof![Just(0x8100u16), Just(0x88a8)], 0..=4094u16, 0..=7u8)
            .prop_map(|(tpid, vid, prio)| Action::Vlan(VlanAction::Push { tpid, vid, prio })),
        (prop_oneof![Just(0x8100u16), Just(0x88a8)], 0..=4094u16, proptest::option::of(0..=7u8))
            .prop_map(|(tpid, vid, prio)| Action::Vlan(VlanAction::Modify { tpid, vid, prio })),
        pedit_strategy().prop_map(Action::Pedit),
        (any::<u8>()).prop_map(|flags| Action::Csum(flags & 0x5f)),
        mpls_strategy().prop_map(Action::Mpls),
        (1..=u32::MAX, any::<bool>()).prop_map(|(block, redirect)| Action::Blockcast { block, redirect }),
        gate_strategy().prop_map(Action::Gate),
    ]
}

/// Gates tc and act_gate accept (no index: random rules would define one twice), their
/// close entries with the wildcards m_gate.c gives them, the cycle within an i64.
fn gate_strategy() -> impl Strategy<Value = Gate> {
    let entry = (any::<bool>(), 1..=u32::MAX, any::<i32>(), proptest::option::of(0..=i32::MAX as u32)).prop_map(
        |(open, interval, ipv, max_octets)| GateEntry {
            open,
            interval,
            ipv: if open { ipv } else { -1 },
            max_octets: max_octets.filter(|_| open),
        },
    );
    let ns = prop_oneof![Just(0u64), 0..=i64::MAX as u64];
    (0..4usize, any::<i64>(), ns.clone(), ns, any::<i32>(), any::<u32>(), proptest::collection::vec(entry, 1..4))
        .prop_map(|(clock, base_time, cycle_time, cycle_time_ext, priority, flags, entries)| Gate {
            index: None,
            clock: GateClock::ALL[clock].0,
            base_time,
            cycle_time,
            cycle_time_ext,
            priority,
            flags,
            entries,
            control: Control::Pipe,
        })
}

/// Mpls actions tc and act_mpls accept: label 20 bits but not 3, TTL not 0, pop's
/// protocol an ethertype.
fn mpls_strategy() -> impl Strategy<Value = MplsAction> {
    let label = (0..=0xf_ffffu32).prop_map(|l| if l == MPLS_LABEL_IMPLICIT_NULL { 16 } else { l });
    let field = |max: u8| proptest::option::of(0..=max);
    let ttl = proptest::option::of(1..=255u8);
    prop_oneof![
        Just(MplsAction::DecTtl),
        prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8847), Just(0x6558), 0x0600..=0xffffu16]
            .prop_map(|proto| MplsAction::Pop { proto }),
        (prop_oneof![Just(0x8847u16), Just(0x8848)], label.clone(), 0..=7u8, 1..=255u8, field(1))
            .prop_map(|(proto, label, tc, ttl, bos)| MplsAction::Push { proto, label, tc, ttl, bos }),
        (proptest::option::of(label), field(7), ttl, field(1)).prop_map(|(label, tc, ttl, bos)| MplsAction::Modify {
            label,
            tc,
            ttl,
            bos
        }),
    ]
}

/// Pedits tc accepts: without `ex` only `ip` fields (its own `sport`/`dport` among them)
/// and no add; add only up to 32 bits; retain only up to 32 bits.
fn pedit_strategy() -> impl Strategy<Value = Pedit> {
    let munge = (0..PeditField::ALL.len(), 0..3u8, any::<u128>(), proptest::option::of(any::<u32>()));
    (any::<bool>(), proptest::collection::vec(munge, 1..4)).prop_map(|(extended, munges)| {
        let munges = munges
            .into_iter()
            .map(|(i, cmd, value, retain)| {
                let mut field = PeditField::ALL[i];
                let legacy = matches!(field, PeditField::IpSport | PeditField::IpDport);
                if !extended && field.words().0 != "ip" {
                    field = PeditField::ALL[2 + i % 6];
                } else if extended && legacy {
                    field = PeditField::TcpSport;
                }
                let width = field.width();
                let cmd = match cmd {
                    1 if extended && width <= 4 => PeditCmd::Add,
                    2 => PeditCmd::Invert,
                    _ => PeditCmd::Set,
                };
                let value = if cmd == PeditCmd::Invert { 0 } else { value & (u128::MAX >> (128 - 8 * width)) };
                let full = field.full_retain();
                let retain = retain.filter(|_| width <= 4).map_or(full, |r| r & full);
                Munge { field, cmd, value, retain }
            })
            .collect();
        Pedit { extended, munges }
    })
}

/// Rules that the parser accepts: flower's constraints and one family per address pair.
fn rule_strategy() -> impl Strategy<Value = Rule> {
    let protocol = prop_oneof![Just(Protocol::All), Just(Protocol::Ipv4), Just(Protocol::Ipv6), Just(Protocol::Vlan)];
    (protocol, any::<bool>(), any::<bool>())
        .prop_flat_map(|(protocol, v6_any, enc_v6)| {
            let v6 = match protocol {
                Protocol::Ipv4 => false,
                Protocol::Ipv6 => true,
                _ => v6_any,
            };
            let l2 = (
                proptest::option::of(mac_strategy()),
                proptest::option::of(mac_strategy()),
                proptest::option::of(0u16..=4095),
                proptest::option::of(0u8..=7),
            );
            let proto = proptest::option::of(prop_oneof![Just(6u8), Just(17), Just(132), Just(115), any::<u8>()]);
            let l3 = (
                proto,
                proptest::option::of(prefix_strategy(v6)),
                proptest::option::of(prefix_strategy(v6)),
                proptest::option::of(port_strategy()),
                proptest::option::of(port_strategy()),
                proptest::option::of(masked_u8_strategy()),
                proptest::option::of(masked_u8_strategy()),
                proptest::option::of(
                    (0u16..=0xfff, prop_oneof![Just(0xfffu16), 0u16..=0xfff])
                        .prop_map(|(v, m)| Masked::<u16>::new(v, m)),
                ),
                proptest::option::of((0u8..=3, 1u8..=3).prop_map(|(v, m)| Masked::<u8>::new(v, m))),
            );
            let enc = (
                proptest::option::of(any::<u32>()),
                proptest::option::of(prefix_strategy(enc_v6)),
                proptest::option::of(prefix_strategy(enc_v6)),
                proptest::option::of(any::<u16>()),
            );
            (Just(protocol), any::<u32>(), l2, l3, enc, action_strategy())
        })
        .prop_map(|(protocol, prio, l2, l3, enc, action)| {
            let (src_mac, dst_mac, vlan_id, vlan_prio) = l2;
            let (ip_proto, src_ip, dst_ip, src_port, dst_port, ip_tos, ip_ttl, tcp_flags, ip_flags) = l3;
            let (enc_key_id, enc_src_ip, enc_dst_ip, enc_dst_port) = enc;
            let mut keys = Keys {
                src_mac,
                dst_mac,
                vlan_id,
                vlan_prio,
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
                enc_dst_ip,
                enc_dst_port,
                ..Keys::default()
            };
            if !matches!(keys.ip_proto, Some(6 | 17 | 132)) {
                keys.src_port = None;
                keys.dst_port = None;
            }
            if keys.ip_proto != Some(6) {
                keys.tcp_flags = None;
            }
            // An L2TPv3 session on some of the rules that may have one.
            if keys.ip_proto == Some(115) && prio % 2 == 1 {
                keys.l2tpv3_sid = Some(prio.rotate_left(7));
            }
            Rule { line: 1, action_col: 0, prio, protocol, keys, chain: 0, hook: Hook::Ingress, actions: vec![action] }
        })
}

/// Rules with the keys beyond the classic set, each family under the protocol flower
/// requires: ARP, MPLS, QinQ, ICMP; outer TOS/TTL and indev on any of them.
fn beyond_classic_strategy() -> impl Strategy<Value = Rule> {
    let masked_dec = || (any::<u8>(), prop_oneof![Just(0xffu8), any::<u8>()]);
    let arp = (
        prop_oneof![Just(0x0806u16), Just(0x8035)],
        proptest::option::of(prefix_strategy(false)),
        proptest::option::of(prefix_strategy(false)),
        proptest::option::of((0u8..=2, prop_oneof![Just(0xffu8), any::<u8>()])),
        proptest::option::of(mac_strategy()),
        proptest::option::of(mac_strategy()),
    )
        .prop_map(|(id, arp_sip, arp_tip, op, arp_sha, arp_tha)| {
            let arp_op = op.map(|(v, m)| Masked::<u8>::new(v, m));
            (Protocol::Ether(id), Keys { arp_sip, arp_tip, arp_op, arp_sha, arp_tha, ..Keys::default() })
        });
    let mpls = (
        prop_oneof![Just(0x8847u16), Just(0x8848)],
        proptest::option::of(0u32..=0xf_ffff),
        proptest::option::of(0u8..=7),
        proptest::option::of(0u8..=1),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(id, mpls_label, mpls_tc, mpls_bos, mpls_ttl)| {
            (Protocol::Ether(id), Keys { mpls_label, mpls_tc, mpls_bos, mpls_ttl, ..Keys::default() })
        });
    // `mpls lse`: entries at some of the 7 depths, any of their fields.
    let lse = (
        any::<bool>(),
        proptest::option::of(0u32..=0xf_ffff),
        proptest::option::of(0u8..=7),
        proptest::option::of(0u8..=1),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(used, label, tc, bos, ttl)| MplsLse { used, label, tc, bos, ttl });
    let lses = (prop_oneof![Just(0x8847u16), Just(0x8848)], proptest::array::uniform7(lse), 0usize..7).prop_map(
        |(id, mut lses, always)| {
            lses[always].used = true;
            for lse in lses.iter_mut().filter(|lse| !lse.used) {
                *lse = MplsLse::default();
            }
            (Protocol::Ether(id), Keys { mpls_lses: Some(lses), ..Keys::default() })
        },
    );
    // PPPoE: a session id, a PPP protocol (IPv4 with an address some of the time).
    let pppoe = (
        prop_oneof![Just(Protocol::Ether(0x8864)), Just(Protocol::Vlan)],
        proptest::option::of(any::<u16>()),
        proptest::option::of(prop_oneof![Just(0x21u16), Just(0x57), Just(0xc021), any::<u16>()]),
        proptest::option::of(prefix_strategy(false)),
    )
        .prop_map(|(protocol, pppoe_sid, ppp_proto, dst_ip)| {
            let eth_type = (protocol == Protocol::Vlan).then_some(0x8864);
            let ppp_proto = ppp_proto.or(pppoe_sid.is_none().then_some(0x21));
            let dst_ip = dst_ip.filter(|_| ppp_proto == Some(0x21));
            (protocol, Keys { pppoe_sid, ppp_proto, dst_ip, eth_type, ..Keys::default() })
        });
    // CFM: either field or both.
    let cfm = (proptest::option::of(0u8..=7), proptest::option::of(any::<u8>())).prop_map(|(cfm_mdl, cfm_op)| {
        (
            Protocol::Ether(0x8902),
            Keys { cfm_mdl, cfm_op: cfm_op.or(Some(1).filter(|_| cfm_mdl.is_none())), ..Keys::default() },
        )
    });
    let qinq = (
        any::<bool>(),
        proptest::option::of(0u16..=4095),
        proptest::option::of(0u8..=7),
        proptest::option::of(prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x0806), any::<u16>()]),
        proptest::option::of(0u8..=4),
    )
        .prop_map(|(cvlan, cvlan_id, cvlan_prio, eth_type, vlans)| {
            let eth_type = eth_type.filter(|id| !matches!(id, 0x8100 | 0x88a8));
            // The customer tag's keys need the TPID (or two tags counted).
            let cvlan = cvlan || cvlan_id.is_some() || cvlan_prio.is_some();
            let keys = Keys { cvlan, cvlan_id, cvlan_prio, eth_type, num_of_vlans: vlans, ..Keys::default() };
            (Protocol::Vlan, keys)
        });
    let icmp = (any::<bool>(), proptest::option::of(masked_dec()), proptest::option::of(masked_dec())).prop_map(
        |(v6, icmp_type, icmp_code)| {
            let masked = |m: Option<(u8, u8)>| m.map(|(v, m)| Masked::<u8>::new(v, m));
            let (protocol, proto) = if v6 { (Protocol::Ipv6, 58) } else { (Protocol::Ipv4, 1) };
            let keys = Keys {
                ip_proto: Some(proto),
                icmp_type: masked(icmp_type),
                icmp_code: masked(icmp_code),
                ..Keys::default()
            };
            (protocol, keys)
        },
    );
    let extra = (
        proptest::option::of(masked_u8_strategy()),
        proptest::option::of(masked_u8_strategy()),
        proptest::option::of("[a-z][a-z0-9_.-]{0,14}"),
    );
    // Ingress, or egress of every port or of one device.
    let hook = prop_oneof![
        Just(Hook::Ingress),
        proptest::option::of("[a-z][a-z0-9_.-]{0,14}")
            .prop_map(|dev| Hook::Egress { dev: dev.filter(|name| !is_keyword(name)) }),
    ];
    (prop_oneof![arp, mpls, lses, cfm, pppoe, qinq, icmp], extra, hook, any::<u32>(), action_strategy()).prop_map(
        |((protocol, mut keys), (enc_tos, enc_ttl, dev), hook, prio, action)| {
            keys.enc_tos = enc_tos;
            keys.enc_ttl = enc_ttl;
            keys.indev = dev.filter(|name| !is_keyword(name)).and_then(|name| Indev::new(&name));
            Rule { line: 1, action_col: 0, prio, protocol, keys, chain: 0, hook, actions: vec![action] }
        },
    )
}

proptest! {
    #[test]
    fn beyond_classic_keys_display_parses_back_to_the_same_rule(rule in beyond_classic_strategy()) {
        let line = rule.to_string();
        let parsed = parse("rt", &line);
        prop_assert!(parsed.is_ok(), "{line}: {parsed:?}");
        let mut back = parsed.unwrap().rules.remove(0);
        back.action_col = rule.action_col;
        prop_assert_eq!(back, rule, "{}", line);
    }

    #[test]
    fn display_parses_back_to_the_same_rule(rule in rule_strategy()) {
        let line = rule.to_string();
        let parsed = parse("rt", &line);
        prop_assert!(parsed.is_ok(), "{line}: {parsed:?}");
        let mut back = parsed.unwrap().rules.remove(0);
        prop_assert_eq!(back.action_col, line.find(" action ").unwrap() + 2);
        back.action_col = rule.action_col;
        prop_assert_eq!(back, rule, "{}", line);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}(\n\\PC{0,80}){0,3}") {
        let _ = parse("fuzz", &text);
        let _ = parse_classbench("fuzz", &text);
        let _ = parse_trace("fuzz", &text);
    }

    #[test]
    fn mangled_rule_lines_never_panic(rule in rule_strategy(), cut in 0usize..200, insert in "[ :/.x0-9a-z#-]{0,4}") {
        let mut line = rule.to_string();
        let mut at = cut.min(line.len());
        while !line.is_char_boundary(at) { at -= 1; }
        line.insert_str(at, &insert);
        if let Err(errors) = parse("m", &line) {
            for e in errors {
                prop_assert!(e.line == 1 && e.col >= 1 && e.col <= line.chars().count() + 1, "{e}");
            }
        }
    }
}
