//! tc flower lines written outside this project (../shared/corpora/flower/lines.jsonl: the
//! kernel's selftests, iproute2's man pages and testsuite, NIC vendors' scripts), read as tc
//! reads them: every line is accepted with tc's meaning or refused at a located word, and
//! the number accepted never falls. The corpus is data only; it is not part of the project.

use std::path::PathBuf;

use rules::{
    parse, Action, Control, Gate, GateClock, GateEntry, Masked, MplsAction, MplsLse, Munge, Pedit, PeditCmd,
    PeditField, Police, PoliceRate, PortMatch, Prefix, Protocol, Rule, TunnelKey, TunnelSet, VlanAction,
};

/// Every line of the corpus, and whether it is real (taken as written from its source; the
/// others' `source` starts with "DERIVED": lines the corpus's authors adapted).
fn corpus_entries() -> Option<Vec<(String, bool)>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/flower/lines.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is not here (the corpus lives beside the project, not in it)", path.display());
        return None;
    };
    Some(
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                let line = v["line"].as_str().expect("a line field").to_string();
                (line, !v["source"].as_str().expect("a source field").starts_with("DERIVED"))
            })
            .collect(),
    )
}

fn corpus() -> Option<Vec<String>> {
    corpus_entries().map(|entries| entries.into_iter().map(|(line, _)| line).collect())
}

/// The rule of the first corpus line containing `needle` (which must parse).
fn rule_of_line_with(lines: &[String], needle: &str) -> Rule {
    let line = lines.iter().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("no corpus line has {needle:?}"));
    parse("corpus", line).unwrap_or_else(|e| panic!("{line}: {e:?}")).rules[0].clone()
}

/// Accepted today: a ratchet (raise it when more of tc's words are supported).
const ACCEPTED_AT_LEAST: usize = 224;

#[test]
fn every_line_is_accepted_or_refused_at_a_located_word() {
    let Some(entries) = corpus_entries() else { return };
    let (mut accepted, mut real_accepted) = (0, 0);
    for (i, (line, real)) in entries.iter().enumerate() {
        match parse("corpus", line) {
            Ok(set) => {
                accepted += 1;
                real_accepted += usize::from(*real);
                // What the printer writes, the parser reads back as the same rule.
                let printed = set.rules[0].to_string();
                let again = parse("printed", &printed).unwrap_or_else(|e| panic!("line {i}: {printed}: {e:?}"));
                let strip = |r: &Rule| Rule { line: 0, action_col: 0, ..r.clone() };
                assert_eq!(strip(&again.rules[0]), strip(&set.rules[0]), "line {i}: {line} printed as {printed}");
            }
            Err(errors) => {
                // FLOWER_REFUSALS=1 lists every refusal (what to support next).
                if std::env::var_os("FLOWER_REFUSALS").is_some() {
                    eprintln!("refused\t{}\t{}", errors[0].message, line);
                }
                for e in &errors {
                    assert!(e.line == 1 && e.col >= 1 && e.col <= line.chars().count() + 1, "line {i}: {e}");
                    assert!(!e.message.is_empty(), "line {i}");
                }
            }
        }
    }
    let real = entries.iter().filter(|(_, real)| *real).count();
    eprintln!(
        "flower corpus: {accepted} of {} lines accepted; of the {real} real ones, {real_accepted}",
        entries.len()
    );
    assert!(accepted >= ACCEPTED_AT_LEAST, "{accepted} accepted, fewer than {ACCEPTED_AT_LEAST}");
}

/// Lines of the corpus and what tc makes of them (tc/f_flower.c read by hand).
#[test]
fn numbers_and_words_mean_what_they_mean_to_tc() {
    let Some(lines) = corpus() else { return };
    let find = |needle: &str| rule_of_line_with(&lines, needle);
    // protocol as a number (`get_be16(.., 0)`), ports decimal.
    let r = find("protocol 0x800 ingress prio 10 handle 1 flower skip_hw dst_mac e4:11:22:33:44:50 ip_proto udp");
    assert_eq!((r.protocol, r.prio, r.keys.ip_proto), (Protocol::Ipv4, 10, Some(17)));
    assert_eq!(r.keys.dst_port, Some(PortMatch::exact(1)));
    // ip_tos: the value decimal, the mask hex.
    assert_eq!(find("ip_tos 5/0xf").keys.ip_tos, Some(Masked::<u8>::new(5, 0xf)));
    assert_eq!(find("flower ip_tos 9/0x08").keys.ip_tos, Some(Masked::<u8>::new(8, 8)));
    assert_eq!(find("flower ip_ttl 66/0x41").keys.ip_ttl, Some(Masked::<u8>::new(66, 0x41)));
    // ip_proto in hex: 1 is 0x1, 0x06 is TCP.
    assert_eq!(find("protocol ip flower ip_proto 1 action drop").keys.ip_proto, Some(1));
    assert_eq!(find("protocol ip flower ip_proto 0x06 action drop").keys.ip_proto, Some(6));
    // `prot` is tc's abbreviation of protocol (`matches`).
    let r = find(" prot all prio 5 root flower");
    assert_eq!((r.protocol, r.prio, r.keys.enc_key_id), (Protocol::All, 5, Some(100)));
    // protocol as any ethertype (lib/ll_proto.c): ARP by name, its keys as f_flower.c reads
    // them (arp_op by name or decimal, addresses as prefixes, MACs with a /LEN mask).
    let r = find("protocol arp parent ffff: flower indev eth0 arp_op request arp_sip 10.0.0.1 action drop");
    assert_eq!((r.protocol, r.keys.arp_op), (Protocol::Ether(0x0806), Some(Masked::<u8>::exact(1))));
    assert_eq!(r.keys.arp_sip, Some(Prefix::v4([10, 0, 0, 1], 32)));
    assert_eq!(r.keys.indev.map(|d| d.name().to_string()), Some("eth0".to_string()));
    let r = find("protocol rarp parent ffff: flower indev eth0 arp_op reply arp_tha 52:54:3f:00:00:00/24");
    assert_eq!((r.protocol, r.keys.arp_op), (Protocol::Ether(0x8035), Some(Masked::<u8>::exact(2))));
    assert_eq!(r.keys.arp_tha, Some(Masked::<u64>::new(0x5254_3f00_0000, 0xffff_ff00_0000)));
    // MPLS by number: the top label stack entry, every field decimal.
    let r = find("protocol 0x8847 parent ffff: flower mpls_label 1 mpls_tc 2 mpls_ttl 3 mpls_bos 0 action drop");
    assert_eq!(r.protocol, Protocol::Ether(0x8847));
    assert_eq!(
        (r.keys.mpls_label, r.keys.mpls_tc, r.keys.mpls_ttl, r.keys.mpls_bos),
        (Some(1), Some(2), Some(3), Some(0))
    );
    let r = find("protocol mpls_uc pref 2 handle 102 flower skip_hw mpls_label 1048575 action drop");
    assert_eq!(r.keys.mpls_label, Some(0xf_ffff));
    // CFM (the kernel selftest's lines; the commit message's `proto` and `op` before `mdl`):
    // MD level and opcode, decimal.
    let r = find("handle 101 flower cfm op 47 action drop");
    assert_eq!((r.protocol, r.keys.cfm_mdl, r.keys.cfm_op), (Protocol::Ether(0x8902), None, Some(47)));
    assert_eq!(find("flower cfm mdl 3 action drop").keys.cfm_mdl, Some(3));
    let r = find("flower cfm mdl 5 op 41 action drop");
    assert_eq!((r.keys.cfm_mdl, r.keys.cfm_op), (Some(5), Some(41)));
    let r = find("proto cfm flower cfm op 1 mdl 5 action ok");
    assert_eq!((r.protocol, r.keys.cfm_mdl, r.keys.cfm_op), (Protocol::Ether(0x8902), Some(5), Some(1)));
    // L2TPv3 over IP: the session id decimal, under ip_proto l2tp (115); the corpus line is
    // skip_sw (refused, below), so read without it.
    let line = lines.iter().find(|l| l.contains("ip_proto l2tp l2tpv3_sid 1234 skip_sw")).expect("an l2tp line");
    let r = parse("corpus", &line.replace(" skip_sw", "")).unwrap().rules[0].clone();
    assert_eq!((r.protocol, r.keys.ip_proto, r.keys.l2tpv3_sid), (Protocol::Ipv4, Some(115), Some(1234)));
    // PPPoE (iproute2's commit message): the session id decimal, `ppp_proto ip` makes the
    // addresses the session's IPv4 ones; under one tag by vlan_ethtype ppp_ses.
    let r = find("protocol ppp_ses flower pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1 src_ip 127.0.0.2");
    assert_eq!((r.protocol, r.keys.pppoe_sid, r.keys.ppp_proto), (Protocol::Ether(0x8864), Some(1234), Some(0x21)));
    assert_eq!(
        (r.keys.dst_ip, r.keys.src_ip),
        (Some(Prefix::v4([127, 0, 0, 1], 32)), Some(Prefix::v4([127, 0, 0, 2], 32)))
    );
    let r = find("flower vlan_id 2 vlan_ethtype ppp_ses pppoe_sid 1234 ppp_proto ip dst_ip 127.0.0.1");
    assert_eq!((r.protocol, r.keys.vlan_id, r.keys.eth_type), (Protocol::Vlan, Some(2), Some(0x8864)));
    assert_eq!(
        (r.keys.pppoe_sid, r.keys.ppp_proto, r.keys.dst_ip.map(|p| p.family)),
        (Some(1234), Some(0x21), Some(rules::Family::V4))
    );
    // ICMPv6 type and code: decimal, the mask decimal too (flower_parse_u8).
    let r = find("protocol ipv6 parent ffff: flower indev eth0 ip_proto icmpv6 type 128/240 code 0 action drop");
    assert_eq!((r.protocol, r.keys.ip_proto), (Protocol::Ipv6, Some(58)));
    assert_eq!((r.keys.icmp_type, r.keys.icmp_code), (Some(Masked::<u8>::new(128, 240)), Some(Masked::<u8>::exact(0))));
    // num_of_vlans allows the VLAN keys without a VLAN protocol (f_flower.c eth_type_vlan).
    let r = find("ingress flower num_of_vlans 1 vlan_prio 5 action drop");
    assert_eq!((r.protocol, r.keys.num_of_vlans, r.keys.vlan_prio), (Protocol::All, Some(1), Some(5)));
    // vlan_ethtype under `protocol ip` is refused as tc refuses it.
    let line =
        lines.iter().find(|l| l.starts_with("protocol ip flower vlan_ethtype 0x8100")).expect("a vlan_ethtype line");
    let errors = parse("corpus", line).unwrap_err();
    assert!(errors[0].message.contains("vlan_ethtype needs `protocol 802.1q`"), "{}", errors[0]);
    // `mpls lse`: entries by depth, every field decimal; a depth alone asks that the entry exist.
    let r = find("mpls lse depth 1 label 0 tc 0 bos 0 ttl 0 lse depth 2 label 1048575 tc 7 bos 1 ttl 255 action drop");
    let lses = r.keys.mpls_lses.expect("lses");
    let lse =
        |label, tc, bos, ttl| MplsLse { used: true, label: Some(label), tc: Some(tc), bos: Some(bos), ttl: Some(ttl) };
    assert_eq!(lses[..3], [lse(0, 0, 0, 0), lse(0xf_ffff, 7, 1, 255), MplsLse::default()]);
    let r = find("flower skip_hw mpls lse depth 3 action continue");
    assert_eq!(r.keys.mpls_lses.expect("lses")[2], MplsLse { used: true, ..MplsLse::default() });
    // skip_sw: hardware only, refused at the word with the reason (issue 13: tc refuses it
    // on a device that cannot offload, and this dataplane programs no NIC).
    let line = lines.iter().find(|l| l.contains("tcp_flags 0x02/0x3f skip_sw")).expect("a skip_sw line");
    let errors = parse("corpus", line).unwrap_err();
    assert!(errors[0].message.contains("programs no NIC"), "{}", errors[0]);
    assert_eq!(errors[0].col, line.find("skip_sw").unwrap() + 1, "{}", errors[0]);
}

/// Action lists, chains and goto as tc runs them (tc/m_action.c, m_police.c, m_mirred.c).
#[test]
fn actions_and_chains_mean_what_they_mean_to_tc() {
    let Some(lines) = corpus() else { return };
    let find = |needle: &str| rule_of_line_with(&lines, needle);
    // goto from chain 0, and a filter of a non-zero chain that jumps on.
    let r = find("pref 1 handle 101 flower skip_hw dst_ip 192.0.0.0/16 action goto chain 1");
    assert_eq!((r.chain, r.actions.clone()), (0, vec![Action::Goto(1)]));
    let r = find("ingress chain 1 protocol ip pref 1 handle 102 flower skip_hw action goto chain 2");
    assert_eq!((r.chain, r.prio, r.actions.clone()), (1, 1, vec![Action::Goto(2)]));
    // police 80mbit (bits read as bytes per second), burst 16k (KiB), drop/pipe, then a mirror.
    let r = find("action police rate 80mbit burst 16k conform-exceed drop/pipe action mirred egress mirror dev rp3");
    let police = Police {
        rate: Some(PoliceRate::Bytes { per_second: 10_000_000, burst: 16 * 1024 }),
        mtu: None,
        exceed: Control::Drop,
        conform: Control::Pipe,
        index: None,
    };
    assert_eq!(r.actions, vec![Action::Police(police), Action::Mirror("rp3".to_string())]);
    // conform-exceed jump 1 / pipe: over the rate, skip the policer (tc's action 0), so
    // both verdicts reach the redirect; jump is list position 1 here.
    let r = find("conform-exceed jump 1 / pipe mirred egress redirect dev enp8s0f0_1 action drop");
    let Action::Police(police) = &r.actions[0] else { panic!("{:?}", r.actions) };
    assert_eq!((police.exceed, police.conform), (Control::Jump(1), Control::Pipe));
    // mirred to a block: every port but the arrival one (the block is every port here).
    let r = find("flower dst_ip 192.168.0.0/16 action mirred egress mirror blockid 22");
    assert_eq!(r.actions, [Action::Blockcast { block: 22, redirect: false }]);
    // police index N defines policer N (shared by the rules naming it); `police index 1`
    // alone refers to a policer no line of its one-line file defines: refused with the reason.
    let r = find("conform-exceed drop/ok index 10");
    let Action::Police(police) = r.actions[0] else { panic!("{:?}", r.actions) };
    assert_eq!((police.index, police.exceed, police.conform), (Some(10), Control::Drop, Control::Pass));
    let line = lines.iter().find(|l| l.contains("action police index 1 mirred")).expect("a police index line");
    let errors = parse("corpus", line).unwrap_err();
    assert!(errors[0].message.contains("police index 1: no rule of this file defines it"), "{}", errors[0]);
    // vlan push: 802.1Q unless told, priority as given; QinQ popped twice, then redirected.
    let r = find("flower indev veth0 action vlan push id 100 priority 5");
    assert_eq!(r.actions, [Action::Vlan(VlanAction::Push { tpid: 0x8100, vid: 100, prio: 5 })]);
    let r = find("cvlan_ethtype ipv4 action vlan pop action vlan pop action mirred egress redirect dev eth1");
    let pop = Action::Vlan(VlanAction::Pop);
    assert_eq!(r.actions, [pop.clone(), pop, Action::Redirect("eth1".into())]);
    // Egress filters keep their device; the printer writes it back.
    let r =
        find("dev swp2 egress protocol ipv4 handle 101 pref 1 flower src_ip 192.0.2.1 dst_ip 192.0.2.2 ip_proto udp");
    assert_eq!((r.hook, r.actions), (rules::Hook::Egress { dev: Some("swp2".into()) }, vec![Action::Drop]));
    // modify: the VID set, the priority kept (none given), 802.1Q; then the redirect.
    // (The corpus's modify lines are all skip_sw, refused: read without it.)
    let line = lines.iter().find(|l| l.contains("vlan_id 10 action vlan modify id 11 pipe")).expect("a modify line");
    let r = parse("corpus", &line.replace(" skip_sw", "")).unwrap().rules[0].clone();
    let modify = Action::Vlan(VlanAction::Modify { tpid: 0x8100, vid: 11, prio: None });
    assert_eq!((r.keys.vlan_id, r.actions), (Some(10), vec![modify, Action::Redirect("enp8s0f0".into())]));
    // tunnel_key set: both addresses, id decimal, no dst_port (4789), csum (tc's default);
    // tos read decimal, else hex (0x30).
    let set = |src: [u8; 4], dst: [u8; 4]| TunnelSet {
        src_ip: src.into(),
        dst_ip: dst.into(),
        id: None,
        dst_port: None,
        tos: None,
        ttl: None,
        csum: true,
    };
    let r = find("flower ip_proto icmp action tunnel_key set src_ip 11.11.0.1 dst_ip 11.11.0.2 id 11 action mirred");
    let tunnel = TunnelSet { id: Some(11), ..set([11, 11, 0, 1], [11, 11, 0, 2]) };
    assert_eq!(r.actions, [Action::TunnelKey(TunnelKey::Set(tunnel)), Action::Redirect("vxlan0".into())]);
    assert_eq!((tunnel.udp_port(), tunnel.is_geneve()), (4789, false));
    let r = find("id 100 dst_port 4789 tos 0x30 action mirred egress redirect dev vxlan_sys_4789");
    let tunnel =
        TunnelSet { id: Some(100), dst_port: Some(4789), tos: Some(0x30), ..set([192, 168, 10, 1], [192, 168, 10, 2]) };
    assert_eq!(r.actions[0], Action::TunnelKey(TunnelKey::Set(tunnel)));
    // A mirror of the plain frame, then the tunnel, then the redirect, in tc's order.
    let r = find("action mirred egress mirror dev enp8s0f0_2 pipe action tunnel_key set src_ip 1.1.1.1");
    let tunnel = TunnelSet { id: Some(100), dst_port: Some(4789), ..set([1, 1, 1, 1], [1, 1, 1, 2]) };
    assert_eq!(
        r.actions,
        [
            Action::Mirror("enp8s0f0_2".into()),
            Action::TunnelKey(TunnelKey::Set(tunnel)),
            Action::Redirect("vxlan1".into())
        ]
    );
    // tunnel_key unset after enc_ keys (the frame still carries the tunnel), `pipe` as tc's default.
    let r = find("enc_key_id 42 action tunnel_key unset pipe action mirred egress redirect dev enp8s0f0_0");
    assert_eq!(r.actions, [Action::TunnelKey(TunnelKey::Unset), Action::Redirect("enp8s0f0_0".into())]);
    // The option TLVs are refused at their word, with the reason.
    for (needle, word) in [
        (" erspan_opts 1:2:0:0", "erspan_opts"),
        (" vxlan_opts 65793", "vxlan_opts"),
        (" geneve_opts 0102", "geneve_opts"),
    ] {
        let line = lines.iter().find(|l| l.contains(needle) && l.contains("tunnel_key")).expect("an opts line");
        let errors = parse("corpus", line).unwrap_err();
        assert!(errors[0].message.starts_with(&format!("tunnel_key {word}:")), "{}", errors[0]);
        assert_eq!(errors[0].col, line.find(needle).unwrap() + 2, "{}", errors[0]);
    }
    // pedit: tc's words and bases (`add 0xff` is hex, a port decimal); with `pipe` the
    // redirect runs, without it tc's pedit passes and the redirect never does (as tc).
    let munge = |field, cmd, value| Munge { field, cmd, value, retain: PeditField::full_retain(field) };
    let ex = |munges: Vec<Munge>| Action::Pedit(Pedit { extended: true, munges });
    let veth0 = Action::Redirect("veth0".into());
    let r = find("flower ip_proto tcp action pedit ex munge ip ttl add 0xff pipe action mirred");
    assert_eq!(r.actions, [ex(vec![munge(PeditField::IpTtl, PeditCmd::Add, 0xff)]), veth0.clone()]);
    let r = find("munge ip dst set 1.1.1.1 pipe");
    assert_eq!(r.actions, [ex(vec![munge(PeditField::IpDst, PeditCmd::Set, 0x0101_0101)]), veth0.clone()]);
    let r = find("munge udp dport set 888 action mirred");
    assert_eq!(r.actions, [ex(vec![munge(PeditField::UdpDport, PeditCmd::Set, 888)]), Action::Pass, veth0.clone()]);
    let r = find("munge eth dst set e4:11:22:33:44:4f pipe");
    let dst = munge(PeditField::EthDst, PeditCmd::Set, 0xe411_2233_444f);
    assert_eq!(r.actions, [ex(vec![dst]), Action::Redirect("enp8s0f0_0".into())]);
    // Raw offsets are refused at the word `offset`.
    let line = lines.iter().find(|l| l.contains("munge offset 10 u8 clear")).expect("a raw pedit line");
    let error = &parse("corpus", line).unwrap_err()[0];
    assert_eq!((error.col, error.message.contains("offset")), (line.find("offset").unwrap() + 1, true), "{error}");
    // mpls (tc-mpls.8): push with tc's defaults (mpls_uc, TC 0, act_mpls's TTL 255, the S bit
    // left to the frame), then the redirect; pop back to IPv4 on a frame matched as MPLS.
    let eth1 = Action::Redirect("eth1".into());
    let r = find("flower action mpls push protocol mpls_uc label 123 action mirred");
    let push = MplsAction::Push { proto: 0x8847, label: 123, tc: 0, ttl: 255, bos: None };
    assert_eq!((r.protocol, r.actions.clone()), (Protocol::Ipv4, vec![Action::Mpls(push), eth1.clone()]));
    let r = find("flower action mpls pop protocol ipv4 action mirred");
    assert_eq!(
        (r.protocol, r.actions.clone()),
        (Protocol::Ether(0x8847), vec![Action::Mpls(MplsAction::Pop { proto: 0x0800 }), eth1])
    );
    // The pseudowire lines need vlan pop_eth (the Ethernet header removed): refused there.
    for line in lines.iter().filter(|l| l.contains("action vlan pop_eth") && l.contains("action mpls pop")) {
        let error = &parse("corpus", line).unwrap_err()[0];
        assert_eq!(error.col, line.find("pop_eth").unwrap() + 1, "{error}");
    }

    // gate (802.1Qci, act_gate): the man page's schedule, 200 ms open with an 8 MB budget
    // then 100 ms closed from base-time 200 s TAI; the lone close entries always closed.
    let gate_of = |needle: &str| match find(needle).actions.as_slice() {
        [Action::Gate(gate)] => gate.clone(),
        other => panic!("{other:?}"),
    };
    let g = gate_of("action gate index 2 clockid CLOCK_TAI base-time 200000000000ns");
    let open = GateEntry { open: true, interval: 200_000_000, ipv: -1, max_octets: Some(8_000_000) };
    let close = |interval| GateEntry { open: false, interval, ipv: -1, max_octets: None };
    assert_eq!(
        g,
        Gate {
            index: Some(2),
            clock: GateClock::Tai,
            base_time: 200_000_000_000,
            cycle_time: 0,
            cycle_time_ext: 0,
            priority: -1,
            flags: 0,
            entries: vec![open, close(100_000_000)],
            control: Control::Pipe,
        }
    );
    assert_eq!(g.cycle(), 300_000_000);
    let g = gate_of("action gate index 12 sched-entry close 200000000ns");
    assert_eq!((g.index, g.base_time, g.entries.as_slice()), (Some(12), 0, &[close(200_000_000)][..]));
    // CLOSE in capitals and clockid after the entries, as m_gate.c reads them.
    let g = gate_of("sched-entry CLOSE 200000000ns clockid CLOCK_TAI");
    assert_eq!((g.base_time, g.entries.as_slice()), (1_357_000_000_000, &[close(200_000_000)][..]));
}
