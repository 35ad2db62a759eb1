//! tc flower: the rule language is flower's, so keys map one to one. Each rule gets one prio
//! per address family it needs (a prio holds one protocol), in matching order; a rule with
//! ports but no `ip_proto` becomes one filter per port protocol (tcp, udp, sctp) at its prio,
//! as flower tests ports only under an `ip_proto`.
//!
//! `enc_*` keys are flower's tunnel keys: they only match on a tunnel device (vxlan, geneve,
//! gretap), where the kernel has decapsulated and the plain keys see the inner headers, as
//! the rules mean. On a plain device a rule with them never matches.
//!
//! Kernels without cls_flower (such as this lab's) still get a batch; [`KernelCaps::can_apply`]
//! says it cannot be applied there, and the batch's notes say so too.
//!
//! [`KernelCaps::can_apply`]: crate::KernelCaps::can_apply

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::batch::{
    action_notes, action_words, has_enc_keys, refuse_other_chains, shape, BatchWriter, EmitOptions, TcBatch, L3,
};
use crate::error::Error;
use crate::target::Target;
use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::{Family, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// The flower batch of `set` (see the module documentation).
pub(crate) fn compile(set: &RuleSet, opts: &EmitOptions) -> Result<TcBatch, Error> {
    let mut w = BatchWriter::new(Target::TcFlower, set, opts);
    if let Err(why) = opts.caps.can_apply(Target::TcFlower) {
        w.note(why.to_string());
    }
    if set.rules.iter().any(|r| has_enc_keys(&r.keys)) {
        w.note(
            "enc_* keys match only on a tunnel device (vxlan, geneve, gretap), where the plain keys \
             see the inner headers; on a plain device those rules never match",
        );
    }
    if set.rules.iter().any(|r| r.protocol == Protocol::Vlan) {
        w.note("`protocol 802.1q` matches C-tagged frames only; the rules' vlan protocol also covers 802.1ad");
    }
    action_notes(&mut w, set, opts);
    refuse_other_chains(&mut w, set);
    for &index in &set.order {
        let rule = &set.rules[index];
        let action = match action_words(rule, opts, Target::TcFlower) {
            Ok(action) => action,
            Err(reason) => {
                w.refuse(index, rule, reason);
                continue;
            }
        };
        if let Some(reason) = not_spelled(rule) {
            w.refuse(index, rule, reason);
            continue;
        }
        let shape = match shape(rule) {
            Ok(shape) => shape,
            Err(why) => {
                w.comment(&format!("rule {index} (line {}) left out: it can never match ({why})", rule.line));
                continue;
            }
        };
        w.comment(&format!("rule {index}, line {}", rule.line));
        let k = &rule.keys;
        let vlan = rule.protocol == Protocol::Vlan || k.vlan_id.is_some() || k.vlan_prio.is_some();
        for &l3 in &shape.l3 {
            let prio = w.prio_for(index)?;
            let ether = rule.protocol.ether().map(|id| format!("{id:#06x}"));
            let protocol = match (vlan, l3, ether.as_deref()) {
                (false, _, Some(id)) => id,
                (true, _, _) => "802.1q",
                (false, L3::V4, None) => "ip",
                (false, L3::V6, None) => "ipv6",
                (false, L3::Any, None) => "all",
            };
            for &proto in &shape.protos {
                let keys = keys(rule, vlan, l3, proto);
                let keys = if keys.is_empty() { String::new() } else { format!("{} ", keys.join(" ")) };
                w.filter(&format!(
                    "filter add dev {} ingress prio {prio} protocol {protocol} flower {keys}{}",
                    opts.dev, action.words
                ));
            }
            w.rules[index].matches += shape.protos.len();
        }
        w.rules[index].counted = action.counted;
    }
    w.finish()
}

/// Why the flower batch does not spell a rule the rules accept, if it does not: the QinQ
/// keys (the batch's VLAN rules say `protocol 802.1q` with an IP `vlan_ethtype` per family),
/// and VLAN keys under another ethertype.
fn not_spelled(rule: &Rule) -> Option<String> {
    let k = &rule.keys;
    let qinq = [
        (k.eth_type.is_some(), "vlan_ethtype"),
        (k.cvlan, "vlan_ethtype"),
        (k.cvlan_id.is_some(), "cvlan_id"),
        (k.cvlan_prio.is_some(), "cvlan_prio"),
        (k.num_of_vlans.is_some(), "num_of_vlans"),
    ];
    if let Some(&(_, key)) = qinq.iter().find(|(set, _)| *set) {
        return Some(format!("the tc-flower batch does not spell `{key}` yet (stacked VLAN tags): use the dataplane"));
    }
    let vlan = k.vlan_id.is_some() || k.vlan_prio.is_some();
    if let (true, Some(id)) = (vlan, rule.protocol.ether()) {
        return Some(format!(
            "the tc-flower batch does not spell VLAN keys under protocol {id:#06x} yet (it needs vlan_ethtype)"
        ));
    }
    None
}

/// `value` or `value/mask`, decimal, as f_flower.c's `flower_parse_u8` reads them.
fn masked_dec(m: Masked<u8>) -> String {
    if m.mask == u8::MAX {
        m.value.to_string()
    } else {
        format!("{}/{}", m.value, m.mask)
    }
}

/// The flower keys of one (family, ip_proto) variant, in the order tc's parser needs
/// (`vlan_ethtype` before L3 keys, `ip_proto` before ports and ICMP type and code; the
/// ARP and MPLS keys after `protocol`, which the batch gives).
fn keys(rule: &Rule, vlan: bool, l3: L3, proto: Option<u8>) -> Vec<String> {
    let k = &rule.keys;
    let mut keys = Vec::new();
    if let Some(dev) = k.indev {
        keys.push(format!("indev {}", dev.name()));
    }
    for (word, value) in [
        ("mpls_label", k.mpls_label),
        ("mpls_tc", k.mpls_tc.map(u32::from)),
        ("mpls_bos", k.mpls_bos.map(u32::from)),
        ("mpls_ttl", k.mpls_ttl.map(u32::from)),
    ] {
        if let Some(v) = value {
            keys.push(format!("{word} {v}"));
        }
    }
    if let Some(lses) = &k.mpls_lses {
        let mut words = vec!["mpls".to_string()];
        for (i, lse) in lses.iter().enumerate().filter(|(_, lse)| lse.used) {
            words.push(format!("lse depth {}", i + 1));
            let fields = [("label", lse.label), ("tc", lse.tc.map(u32::from))];
            let more = [("bos", lse.bos.map(u32::from)), ("ttl", lse.ttl.map(u32::from))];
            words.extend(fields.into_iter().chain(more).filter_map(|(word, v)| v.map(|v| format!("{word} {v}"))));
        }
        keys.push(words.join(" "));
    }
    // Before the IP keys: f_flower.c reads those under the ethertype `ppp_proto` names.
    if let Some(sid) = k.pppoe_sid {
        keys.push(format!("pppoe_sid {sid}"));
    }
    if let Some(proto) = k.ppp_proto {
        keys.push(format!("ppp_proto {proto:#06x}"));
    }
    // f_flower.c `flower_parse_cfm`: `cfm` then its words, after `protocol`.
    if k.cfm_mdl.is_some() || k.cfm_op.is_some() {
        let fields = [("mdl", k.cfm_mdl), ("op", k.cfm_op)];
        let words = fields.iter().filter_map(|(word, v)| v.map(|v| format!(" {word} {v}")));
        keys.push(format!("cfm{}", words.collect::<String>()));
    }
    for (word, prefix) in [("arp_sip", k.arp_sip), ("arp_tip", k.arp_tip)] {
        if let Some(p) = prefix {
            keys.push(format!("{word} {}", prefix_text(p)));
        }
    }
    if let Some(m) = k.arp_op {
        keys.push(format!("arp_op {}", masked_dec(m)));
    }
    for (word, mac) in [("arp_sha", k.arp_sha), ("arp_tha", k.arp_tha)] {
        if let Some(m) = mac {
            keys.push(format!("{word} {}", masked_mac(m)));
        }
    }
    if let Some(id) = k.vlan_id {
        keys.push(format!("vlan_id {id}"));
    }
    if let Some(prio) = k.vlan_prio {
        keys.push(format!("vlan_prio {prio}"));
    }
    if vlan {
        match l3 {
            L3::V4 => keys.push("vlan_ethtype ip".into()),
            L3::V6 => keys.push("vlan_ethtype ipv6".into()),
            L3::Any => {}
        }
    }
    for (word, mac) in [("dst_mac", k.dst_mac), ("src_mac", k.src_mac)] {
        if let Some(m) = mac {
            keys.push(format!("{word} {}", masked_mac(m)));
        }
    }
    if let Some(p) = proto {
        keys.push(format!("ip_proto {}", proto_name(p, l3)));
    }
    for (word, prefix) in [("src_ip", k.src_ip), ("dst_ip", k.dst_ip)] {
        if let Some(p) = prefix {
            keys.push(format!("{word} {}", prefix_text(p)));
        }
    }
    if let Some(m) = k.ip_tos {
        keys.push(format!("ip_tos 0x{:02x}/0x{:02x}", m.value, m.mask));
    }
    if let Some(m) = k.ip_ttl {
        keys.push(format!("ip_ttl 0x{:02x}/0x{:02x}", m.value, m.mask));
    }
    if let Some(flags) = k.ip_flags.filter(|f| f.mask != 0) {
        keys.push(format!("ip_flags {}", ip_flags_text(flags)));
    }
    for (word, port) in [("src_port", k.src_port), ("dst_port", k.dst_port)] {
        if let Some(p) = port {
            keys.push(format!("{word} {}", port_text(p)));
        }
    }
    if let Some(m) = k.tcp_flags {
        keys.push(format!("tcp_flags 0x{:03x}/0x{:03x}", m.value & 0x0fff, m.mask & 0x0fff));
    }
    // After ip_proto, which f_flower.c checks it against.
    if let Some(sid) = k.l2tpv3_sid {
        keys.push(format!("l2tpv3_sid {sid}"));
    }
    for (word, masked) in [("type", k.icmp_type), ("code", k.icmp_code)] {
        if let Some(m) = masked {
            keys.push(format!("{word} {}", masked_dec(m)));
        }
    }
    if let Some(id) = k.enc_key_id {
        keys.push(format!("enc_key_id {id}"));
    }
    for (word, prefix) in [("enc_src_ip", k.enc_src_ip), ("enc_dst_ip", k.enc_dst_ip)] {
        if let Some(p) = prefix {
            keys.push(format!("{word} {}", prefix_text(p)));
        }
    }
    if let Some(port) = k.enc_dst_port {
        keys.push(format!("enc_dst_port {port}"));
    }
    for (word, masked) in [("enc_tos", k.enc_tos), ("enc_ttl", k.enc_ttl)] {
        if let Some(m) = masked {
            keys.push(format!("{word} 0x{:02x}/0x{:02x}", m.value, m.mask));
        }
    }
    keys
}

fn proto_name(proto: u8, l3: L3) -> String {
    match (proto, l3) {
        (6, _) => "tcp".into(),
        (17, _) => "udp".into(),
        (132, _) => "sctp".into(),
        (1, L3::V4) => "icmp".into(),
        (58, L3::V6) => "icmpv6".into(),
        (115, _) => "l2tp".into(),
        // tc reads a number here as hex.
        (p, _) => format!("0x{p:02x}"),
    }
}

fn prefix_text(p: Prefix) -> String {
    match p.family {
        Family::V6 => format!("{}/{}", Ipv6Addr::from(p.addr), p.len),
        _ => format!("{}/{}", Ipv4Addr::from(p.addr as u32), p.len),
    }
}

fn port_text(p: PortMatch) -> String {
    match p {
        PortMatch::Masked(m) if m.mask == u16::MAX => format!("{}", m.value),
        PortMatch::Masked(m) => format!("{}/0x{:04x}", m.value, m.mask),
        // flower wants min < max for a range.
        PortMatch::Range { lo, hi } if lo == hi => format!("{lo}"),
        PortMatch::Range { lo, hi } => format!("{lo}-{hi}"),
    }
}

fn masked_mac(m: Masked<u64>) -> String {
    let bytes = |x: u64| {
        let b = x.to_be_bytes();
        format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
    };
    if m.mask & 0xffff_ffff_ffff == 0xffff_ffff_ffff {
        bytes(m.value)
    } else {
        format!("{}/{}", bytes(m.value), bytes(m.mask))
    }
}

/// flower's `frag`/`nofrag`, `firstfrag`/`nofirstfrag`, joined by `/`.
fn ip_flags_text(flags: Masked<u8>) -> String {
    let mut words = Vec::new();
    if flags.mask & IP_FLAG_FRAG != 0 {
        words.push(if flags.value & IP_FLAG_FRAG != 0 { "frag" } else { "nofrag" });
    }
    if flags.mask & IP_FLAG_FIRSTFRAG != 0 {
        words.push(if flags.value & IP_FLAG_FIRSTFRAG != 0 { "firstfrag" } else { "nofirstfrag" });
    }
    words.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::KernelCaps;
    use crate::tc::compile_tc;
    use rules::{Action, Keys};

    fn rule(line: usize, protocol: Protocol, keys: Keys, action: Action) -> Rule {
        Rule::new(line, 1, protocol, keys, action)
    }

    #[test]
    fn keys_map_one_to_one() {
        let keys = Keys {
            dst_mac: Some(Masked::<u64>::new(0x0200_0000_0001, 0xffff_ff00_0000)),
            ip_proto: Some(6),
            src_ip: Some(Prefix::v4([10, 0, 0, 0], 8)),
            dst_port: Some(PortMatch::Range { lo: 1000, hi: 2000 }),
            src_port: Some(PortMatch::Masked(Masked::<u16>::new(0x50, 0xfff0))),
            tcp_flags: Some(Masked::<u16>::new(0x002, 0x012)),
            ip_flags: Some(Masked::<u8>::new(0, IP_FLAG_FRAG)),
            ..Keys::default()
        };
        let set = RuleSet::new(vec![rule(1, Protocol::Ipv4, keys, Action::Drop)]);
        let batch = compile_tc(&set, Target::TcFlower, &EmitOptions::new("eth9", KernelCaps::everything())).unwrap();
        let line = batch.text.lines().find(|l| l.starts_with("filter add")).unwrap();
        assert_eq!(
            line,
            "filter add dev eth9 ingress prio 1 protocol ip flower dst_mac 02:00:00:00:00:00/ff:ff:ff:00:00:00 \
             ip_proto tcp src_ip 10.0.0.0/8 ip_flags nofrag src_port 80/0xfff0 dst_port 1000-2000 \
             tcp_flags 0x002/0x012 action drop"
        );
        assert_eq!(batch.expansion_factor, 1.0);
        assert!(batch.notes.is_empty(), "{:?}", batch.notes);
    }

    #[test]
    fn a_rule_over_both_families_takes_two_prios() {
        let keys = Keys { vlan_id: Some(7), dst_port: Some(PortMatch::exact(53)), ..Keys::default() };
        let set = RuleSet::new(vec![
            rule(1, Protocol::All, keys, Action::Pass),
            rule(2, Protocol::Ipv6, Keys { ip_proto: Some(58), ..Keys::default() }, Action::Pass),
        ]);
        let batch = compile_tc(&set, Target::TcFlower, &EmitOptions::new("d", KernelCaps::everything())).unwrap();
        assert_eq!(batch.rules[0].prios, [1, 2]);
        assert_eq!(batch.rules[1].prios, [3]);
        assert_eq!(batch.matches, 7);
        let filters: Vec<&str> = batch.text.lines().filter(|l| l.starts_with("filter add")).collect();
        assert_eq!(
            filters[0],
            "filter add dev d ingress prio 1 protocol 802.1q flower vlan_id 7 vlan_ethtype ip ip_proto tcp dst_port 53 action pass"
        );
        assert!(filters[5].starts_with(
            "filter add dev d ingress prio 2 protocol 802.1q flower vlan_id 7 vlan_ethtype ipv6 ip_proto sctp"
        ));
        assert_eq!(filters[6], "filter add dev d ingress prio 3 protocol ipv6 flower ip_proto icmpv6 action pass");
    }

    #[test]
    fn arp_mpls_icmp_and_indev_are_spelled_as_flower_reads_them() {
        let mut indev = rules::Indev::new("dut1").unwrap();
        indev.port = 1;
        let arp = Keys {
            arp_sip: Some(Prefix::v4([10, 0, 0, 0], 8)),
            arp_op: Some(Masked::<u8>::exact(1)),
            arp_tha: Some(Masked::<u64>::new(0x5254_3f00_0000, 0xffff_ff00_0000)),
            indev: Some(indev),
            ..Keys::default()
        };
        let mpls = Keys { mpls_label: Some(16), mpls_bos: Some(1), ..Keys::default() };
        let icmp = Keys {
            ip_proto: Some(58),
            icmp_type: Some(Masked::<u8>::new(128, 240)),
            enc_ttl: Some(Masked::<u8>::exact(63)),
            ..Keys::default()
        };
        let mut lses = [rules::MplsLse::default(); rules::MPLS_LSE_DEPTH_MAX];
        lses[1] = rules::MplsLse { used: true, label: Some(22), bos: Some(1), ..rules::MplsLse::default() };
        let deeper = Keys { mpls_lses: Some(lses), ..Keys::default() };
        let cfm = Keys { cfm_mdl: Some(5), cfm_op: Some(41), ..Keys::default() };
        let l2tp = Keys { ip_proto: Some(115), l2tpv3_sid: Some(1234), ..Keys::default() };
        let dst_ip = Some(Prefix::v4([127, 0, 0, 1], 32));
        let pppoe =
            Keys { pppoe_sid: Some(1234), ppp_proto: Some(0x21), ip_proto: Some(17), dst_ip, ..Keys::default() };
        let set = RuleSet::new(vec![
            rule(1, Protocol::Ether(0x0806), arp, Action::Drop),
            rule(2, Protocol::Ether(0x8847), mpls, Action::Drop),
            rule(3, Protocol::Ipv6, icmp, Action::Drop),
            rule(4, Protocol::Ether(0x8847), deeper, Action::Drop),
            rule(5, Protocol::Ether(0x8902), cfm, Action::Drop),
            rule(6, Protocol::Ipv4, l2tp, Action::Drop),
            rule(7, Protocol::Ether(0x8864), pppoe, Action::Drop),
        ]);
        let batch = compile_tc(&set, Target::TcFlower, &EmitOptions::new("d", KernelCaps::everything())).unwrap();
        let filters: Vec<&str> = batch.text.lines().filter(|l| l.starts_with("filter add")).collect();
        assert_eq!(
            filters,
            [
                "filter add dev d ingress prio 1 protocol 0x0806 flower indev dut1 arp_sip 10.0.0.0/8 arp_op 1 \
                 arp_tha 52:54:3f:00:00:00/ff:ff:ff:00:00:00 action drop",
                "filter add dev d ingress prio 2 protocol 0x8847 flower mpls_label 16 mpls_bos 1 action drop",
                "filter add dev d ingress prio 3 protocol ipv6 flower ip_proto icmpv6 type 128/240 enc_ttl 0x3f/0xff \
                 action drop",
                "filter add dev d ingress prio 4 protocol 0x8847 flower mpls lse depth 2 label 22 bos 1 action drop",
                "filter add dev d ingress prio 5 protocol 0x8902 flower cfm mdl 5 op 41 action drop",
                "filter add dev d ingress prio 6 protocol ip flower ip_proto l2tp l2tpv3_sid 1234 action drop",
                "filter add dev d ingress prio 7 protocol 0x8864 flower pppoe_sid 1234 ppp_proto 0x0021 ip_proto udp \
                 dst_ip 127.0.0.1/32 action drop",
            ]
        );
    }

    #[test]
    fn qinq_keys_are_refused_with_the_key() {
        let keys = Keys { cvlan: true, cvlan_id: Some(5), ..Keys::default() };
        let set = RuleSet::new(vec![rule(4, Protocol::Vlan, keys, Action::Drop)]);
        match compile_tc(&set, Target::TcFlower, &EmitOptions::new("d", KernelCaps::everything())) {
            Err(crate::Error::Refused { refusals, .. }) => {
                assert_eq!(refusals[0].line, 4);
                assert!(refusals[0].reason.contains("`vlan_ethtype`"), "{}", refusals[0]);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn tunnel_key_is_refused_for_want_of_act_tunnel_key() {
        let set = rules::parse(
            "t.rules",
            "action tunnel_key set src_ip 10.0.0.1 dst_ip 10.0.0.2 id 42 action mirred egress redirect dev d\n\
             prio 2 action tunnel_key unset\n",
        )
        .unwrap();
        match compile_tc(&set, Target::TcFlower, &EmitOptions::new("d", KernelCaps::everything())) {
            Err(crate::Error::Refused { refusals, .. }) => {
                let reason = refusals.iter().find(|r| r.line == 2).expect("the unset rule refused").to_string();
                assert!(reason.contains("`tunnel_key unset` needs tc's act_tunnel_key"), "{reason}");
                assert!(reason.contains("CONFIG_NET_ACT_TUNNEL_KEY is not set"), "{reason}");
                assert!(refusals.iter().any(|r| r.line == 1), "{refusals:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn mpls_is_refused_for_want_of_act_mpls() {
        let set = rules::parse(
            "t.rules",
            "action mpls push label 123 action mirred egress redirect dev d\n\
             prio 2 protocol mpls_uc action mpls pop protocol ip\n",
        )
        .unwrap();
        match compile_tc(&set, Target::TcFlower, &EmitOptions::new("d", KernelCaps::everything())) {
            Err(crate::Error::Refused { refusals, .. }) => {
                let reason = refusals.iter().find(|r| r.line == 2).expect("the pop rule refused").to_string();
                assert!(reason.contains("`mpls pop protocol ip` needs tc's act_mpls"), "{reason}");
                assert!(reason.contains("CONFIG_NET_ACT_MPLS is not set"), "{reason}");
                assert!(refusals.iter().any(|r| r.line == 1), "{refusals:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_kernel_without_flower_still_gets_the_batch_and_the_reason() {
        let caps = KernelCaps { cls_flower: false, act_gact: false, ..KernelCaps::everything() };
        let mut opts = EmitOptions::new("d", caps);
        opts.drop_dev = Some("dead".into());
        let set =
            RuleSet::new(vec![rule(1, Protocol::All, Keys { enc_key_id: Some(42), ..Keys::default() }, Action::Drop)]);
        let batch = compile_tc(&set, Target::TcFlower, &opts).unwrap();
        assert!(batch.notes[0].contains("this kernel has no tc flower (cls_flower)"), "{:?}", batch.notes);
        assert!(batch.text.contains("protocol all flower enc_key_id 42 action mirred egress redirect dev dead\n"));
    }
}
