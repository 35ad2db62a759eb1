//! tc u32: each rule becomes the u32 filters of one prio, in matching order, so the kernel's
//! first match is the rule set's first match.
//!
//! Layout of one rule at prio P (`protocol ip`, `ipv6`, or `all` when it needs both):
//! - without port or TCP-flag keys: one knode per (family, ip_proto) variant, keys at fixed
//!   offsets from the network header (MACs at negative offsets, -14 and -8);
//! - with them: a hash table of its own (`divisor 1`) holding one knode per (src port block x
//!   dst port block) with the action, and per variant a knode in P's root table that tests
//!   the L3 keys and links there with `offset at 0 mask 0x0f00 shift 6 eat` (IPv4: skip
//!   IHL * 4 bytes, options included, RFC 791 §3.1) or `offset plus 40 eat` (IPv6). If no
//!   port knode matches, u32 goes back to the root table and then to the next prio.
//!
//! Port ranges are cut into the fewest aligned value/mask blocks covering them; the batch's
//! expansion factor says what that cost. IPv4 port keys also require fragment offset 0, as
//! a later fragment has no ports ([`rules::PacketKey::has_ports`]).
//!
//! Refused: VLAN keys and `protocol 802.1q` (at tc ingress the tag is already metadata, not
//! bytes u32 can read), `enc_*` keys (u32 cannot look inside a tunnel), fragment tests u32
//! cannot express (any "is a fragment" test: it is an OR of two fields), IPv6 fragment tests,
//! and actions other than drop, pass and fwd.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::batch::{
    action_notes, action_words, has_enc_keys, port_prefixes, refuse_other_chains, shape, BatchWriter, EmitOptions,
    Shape, TcBatch, L3,
};
use crate::error::Error;
use crate::target::Target;
use rules::key::{IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};
use rules::{Family, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet};

/// The highest u32 hash table id a batch creates: ids are 12 bits and the kernel numbers the
/// per-prio root tables from 0x800 up.
const MAX_HT: u32 = 0x7ff;

/// IPv4 flags + fragment offset word (offset 6): MF is 0x2000, the offset 0x1fff.
const FRAG_OFFSET_MASK: u16 = 0x1fff;
const MF_AND_OFFSET_MASK: u16 = 0x3fff;

/// The u32 batch of `set` (see the module documentation).
pub(crate) fn compile(set: &RuleSet, opts: &EmitOptions) -> Result<TcBatch, Error> {
    let mut w = BatchWriter::new(Target::TcU32, set, opts);
    w.note(
        "u32 reads the frame as it arrives: on tunnelled traffic those are the outer headers, \
         while the rules' plain keys mean the inner ones (the BPF targets parse VXLAN)",
    );
    action_notes(&mut w, set, opts);
    refuse_other_chains(&mut w, set);
    let mut next_ht = 1;
    for &index in &set.order {
        let rule = &set.rules[index];
        if let Some(key) = rule.beyond_classic_key() {
            let reason = format!(
                "u32 cannot test `{key}`: its matches here are offsets into one VLAN-less IPv4/IPv6 \
                 header layout (use tc-flower or the dataplane)"
            );
            w.refuse(index, rule, reason);
            continue;
        }
        let fragment = match check(rule) {
            Ok(fragment) => fragment,
            Err(reason) => {
                w.refuse(index, rule, reason);
                continue;
            }
        };
        let action = match action_words(rule, opts, Target::TcU32) {
            Ok(action) => action,
            Err(reason) => {
                w.refuse(index, rule, reason);
                continue;
            }
        };
        let shape = match (shape(rule), fragment) {
            (Ok(shape), Some(_)) => shape,
            (Err(why), _) => {
                w.comment(&format!("rule {index} (line {}) left out: it can never match ({why})", rule.line));
                continue;
            }
            (Ok(_), None) => {
                w.comment(&format!("rule {index} (line {}) left out: its ip_flags can never match", rule.line));
                continue;
            }
        };
        let prio = w.prio_for(index)?;
        w.comment(&format!("rule {index}, line {}", rule.line));
        let frag_word = fragment.flatten();
        let protocol = match shape.l3.as_slice() {
            [L3::V4] => "ip",
            [L3::V6] => "ipv6",
            _ => "all",
        };
        let head = format!("filter add dev {} ingress prio {prio} protocol {protocol} u32", opts.dev);
        if shape.l3.contains(&L3::V6) && (shape.l4 || shape.protos != [None]) {
            w.note(
                "u32 finds IPv6 ports and ip_proto right after the fixed header: IPv6 packets with \
                 extension headers do not match rules that test them",
            );
        }
        let variants = variants(rule, &shape, frag_word);
        if !shape.l4 {
            for keys in &variants {
                w.filter(&format!("{head} {} {}", keys.join(" "), action.words));
            }
            w.rules[index].matches = variants.len();
        } else {
            if next_ht > MAX_HT {
                return Err(Error::OutOfHashTables { limit: MAX_HT });
            }
            let ht = next_ht;
            next_ht += 1;
            w.filter(&format!(
                "filter add dev {} ingress prio {prio} handle {ht:x}: protocol {protocol} u32 divisor 1",
                opts.dev
            ));
            let leaves = l4_leaves(rule);
            for keys in &leaves {
                w.filter(&format!("{head} ht {ht:x}: {} {}", keys.join(" "), action.words));
            }
            for (keys, l3) in variants.iter().zip(variant_l3(&shape)) {
                let offset = match l3 {
                    L3::V6 => "offset plus 40 eat",
                    _ => "offset at 0 mask 0x0f00 shift 6 eat",
                };
                w.filter(&format!("{head} {} link {ht:x}: {offset}", keys.join(" ")));
            }
            w.rules[index].matches = variants.len() * leaves.len();
        }
        w.rules[index].counted = action.counted;
    }
    w.finish()
}

/// Refuses what u32 cannot express. `Ok(None)`: the fragment test can never match;
/// `Ok(Some(word))`: the IPv4 flags/offset test (`None` inside: no test).
fn check(rule: &Rule) -> Result<Option<Option<Masked<u16>>>, &'static str> {
    let k = &rule.keys;
    if rule.protocol == Protocol::Vlan || k.vlan_id.is_some() || k.vlan_prio.is_some() {
        return Err("u32 cannot test VLAN tags: at tc ingress the tag is skb metadata, not packet bytes");
    }
    if has_enc_keys(k) {
        return Err("u32 cannot test enc_* keys: it reads the frame as it arrives and does not parse tunnels");
    }
    let Some(flags) = k.ip_flags else {
        return Ok(Some(None));
    };
    let v6_possible = rule.protocol != Protocol::Ipv4
        && [k.src_ip, k.dst_ip].iter().flatten().all(|p: &Prefix| p.family == Family::V6);
    if flags.mask != 0 && v6_possible {
        return Err("u32 cannot test ip_flags on IPv6 (the fragment header is an extension header)");
    }
    fragment_word(flags)
}

/// `ip_flags` as a test of the IPv4 MF bit and fragment offset (RFC 791 §3.1).
fn fragment_word(flags: Masked<u8>) -> Result<Option<Option<Masked<u16>>>, &'static str> {
    let frag = (flags.mask & IP_FLAG_FRAG != 0).then_some(flags.value & IP_FLAG_FRAG != 0);
    let first = (flags.mask & IP_FLAG_FIRSTFRAG != 0).then_some(flags.value & IP_FLAG_FIRSTFRAG != 0);
    match (frag, first) {
        (None, None) => Ok(Some(None)),
        // Not a fragment: MF clear and offset 0 (a non-fragment is never a first fragment).
        (Some(false), None | Some(false)) => Ok(Some(Some(Masked::<u16>::new(0, MF_AND_OFFSET_MASK)))),
        (Some(false), Some(true)) => Ok(None),
        // The first fragment: MF set, offset 0.
        (None | Some(true), Some(true)) => Ok(Some(Some(Masked::<u16>::new(0x2000, MF_AND_OFFSET_MASK)))),
        (Some(true), None) => Err("u32 cannot test `frag` (MF set OR offset non-zero is two tests)"),
        (_, Some(false)) => Err("u32 cannot test `nofirstfrag` (a negated test of two fields)"),
    }
}

/// The L3 variant of each entry of [`variants`], in the same order.
fn variant_l3(shape: &Shape) -> Vec<L3> {
    shape.l3.iter().flat_map(|&l3| shape.protos.iter().map(move |_| l3)).collect()
}

/// Keys of each (family, ip_proto) variant, as u32 `match` clauses.
fn variants(rule: &Rule, shape: &Shape, frag_word: Option<Masked<u16>>) -> Vec<Vec<String>> {
    let k = &rule.keys;
    let mut out = Vec::new();
    for &l3 in &shape.l3 {
        for &proto in &shape.protos {
            let mut keys = Vec::new();
            if let Some(m) = k.dst_mac {
                keys.extend(mac_keys(m, -14));
            }
            if let Some(m) = k.src_mac {
                keys.extend(mac_keys(m, -8));
            }
            match l3 {
                L3::Any => {}
                L3::V4 => {
                    if shape.l3.len() > 1 {
                        keys.push("match u16 0x0800 0xffff at -2".into());
                    }
                    for (word, prefix) in [("src", k.src_ip), ("dst", k.dst_ip)] {
                        if let Some(p) = prefix.filter(|p| p.len > 0) {
                            keys.push(format!("match ip {word} {}/{}", Ipv4Addr::from(p.addr as u32), p.len));
                        }
                    }
                    if let Some(p) = proto {
                        keys.push(format!("match ip protocol {p} 0xff"));
                    }
                    keys.extend(k.ip_tos.and_then(|m| u8_key(m, 1)));
                    keys.extend(k.ip_ttl.and_then(|m| u8_key(m, 8)));
                    let mut word = frag_word.unwrap_or(Masked::<u16>::new(0, 0));
                    if shape.l4 {
                        // Ports exist only in the fragment at offset 0.
                        word = Masked::<u16>::new(word.value, word.mask | FRAG_OFFSET_MASK);
                    }
                    if word.mask != 0 {
                        keys.push(format!("match u16 0x{:04x} 0x{:04x} at 6", word.value, word.mask));
                    }
                }
                L3::V6 => {
                    if shape.l3.len() > 1 {
                        keys.push("match u16 0x86dd 0xffff at -2".into());
                    }
                    for (word, prefix) in [("src", k.src_ip), ("dst", k.dst_ip)] {
                        if let Some(p) = prefix.filter(|p| p.len > 0) {
                            keys.push(format!("match ip6 {word} {}/{}", Ipv6Addr::from(p.addr), p.len));
                        }
                    }
                    if let Some(p) = proto {
                        keys.push(format!("match ip6 protocol {p} 0xff"));
                    }
                    // Traffic class: bits 4..12 of the first word (RFC 8200 §3).
                    if let Some(m) = k.ip_tos.filter(|m| m.mask != 0) {
                        let (value, mask) = (u32::from(m.value) << 20, u32::from(m.mask) << 20);
                        keys.push(format!("match u32 0x{value:08x} 0x{mask:08x} at 0"));
                    }
                    keys.extend(k.ip_ttl.and_then(|m| u8_key(m, 7)));
                }
            }
            if keys.is_empty() {
                keys.push("match u32 0 0 at 0".into());
            }
            out.push(keys);
        }
    }
    out
}

/// The port and TCP-flag keys after `eat` (offsets from the L4 header): one entry per
/// (src block, dst block).
fn l4_leaves(rule: &Rule) -> Vec<Vec<String>> {
    let k = &rule.keys;
    let blocks = |port: Option<PortMatch>| port.map(port_prefixes).unwrap_or_else(|| vec![Masked::<u16>::new(0, 0)]);
    let (src, dst) = (blocks(k.src_port), blocks(k.dst_port));
    let mut leaves = Vec::with_capacity(src.len() * dst.len());
    for s in &src {
        for d in &dst {
            let mut keys: Vec<String> = [(s, 0), (d, 2)].iter().filter_map(|&(m, at)| u16_key(*m, at)).collect();
            // TCP flags: the low 12 bits of the word at offset 12 (RFC 9293 §3.1).
            if let Some(f) = k.tcp_flags {
                keys.extend(u16_key(Masked::<u16>::new(f.value & 0x0fff, f.mask & 0x0fff), 12));
            }
            if keys.is_empty() {
                keys.push("match u32 0 0 at 0".into());
            }
            leaves.push(keys);
        }
    }
    leaves
}

fn u8_key(m: Masked<u8>, at: i32) -> Option<String> {
    (m.mask != 0).then(|| format!("match u8 0x{:02x} 0x{:02x} at {at}", m.value, m.mask))
}

fn u16_key(m: Masked<u16>, at: i32) -> Option<String> {
    (m.mask != 0).then(|| format!("match u16 0x{:04x} 0x{:04x} at {at}", m.value, m.mask))
}

/// A 48-bit MAC test as three 16-bit keys from `at` (-14: destination, -8: source).
fn mac_keys(m: Masked<u64>, at: i32) -> Vec<String> {
    (0..3)
        .filter_map(|i| {
            let shift = 32 - 16 * i;
            let part = |x: u64| ((x >> shift) & 0xffff) as u16;
            u16_key(Masked::<u16>::new(part(m.value), part(m.mask)), at + 2 * i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::KernelCaps;
    use crate::tc::compile_tc;
    use rules::{Action, Keys, PortMatch, Prefix};

    pub(crate) fn rule(line: usize, protocol: Protocol, keys: Keys, action: Action) -> Rule {
        Rule::new(line, 1, protocol, keys, action)
    }

    /// This lab's kernel: u32 and mirred, no gact.
    fn lab_opts() -> EmitOptions {
        let caps = KernelCaps {
            act_gact: false,
            act_police: false,
            cls_flower: false,
            u32_perf: false,
            ..KernelCaps::everything()
        };
        let mut opts = EmitOptions::new("dut0", caps);
        opts.ports = vec!["out0".into()];
        opts.drop_dev = Some("dead0".into());
        opts
    }

    #[test]
    fn one_prio_per_rule_in_matching_order() {
        let mut late = rule(
            1,
            Protocol::Ipv4,
            Keys { src_ip: Some(Prefix::v4([10, 0, 0, 0], 8)), ..Keys::default() },
            Action::Drop,
        );
        late.prio = 5;
        let early = rule(2, Protocol::Ipv4, Keys { ip_proto: Some(1), ..Keys::default() }, Action::Fwd(0));
        let set = RuleSet::new(vec![late, early]);
        let batch = compile_tc(&set, Target::TcU32, &lab_opts()).unwrap();
        let filters: Vec<&str> = batch.text.lines().filter(|l| l.starts_with("filter add")).collect();
        assert_eq!(
            filters,
            [
                "filter add dev dut0 ingress prio 1 protocol ip u32 match ip protocol 1 0xff action mirred egress redirect dev out0",
                "filter add dev dut0 ingress prio 2 protocol ip u32 match ip src 10.0.0.0/8 action mirred egress redirect dev dead0",
            ]
        );
        assert!(batch.text.contains("qdisc replace dev dut0 clsact\nfilter del dev dut0 ingress\n"));
        assert_eq!(batch.rules[1].prios, [1]);
        assert_eq!(batch.rules[0].prios, [2]);
        assert_eq!(batch.rule_at_prio(2), Some(0));
        assert_eq!(batch.expansion_factor, 1.0);
    }

    #[test]
    fn ports_go_through_a_hash_table_after_the_ip_header() {
        let keys = Keys {
            ip_proto: Some(17),
            dst_ip: Some(Prefix::v4([192, 168, 1, 0], 24)),
            dst_port: Some(PortMatch::Range { lo: 1024, hi: 65535 }),
            src_port: Some(PortMatch::exact(53)),
            ..Keys::default()
        };
        let set = RuleSet::new(vec![rule(3, Protocol::Ipv4, keys, Action::Drop)]);
        let batch = compile_tc(&set, Target::TcU32, &lab_opts()).unwrap();
        let text = &batch.text;
        assert!(text.contains("filter add dev dut0 ingress prio 1 handle 1: protocol ip u32 divisor 1\n"), "{text}");
        assert!(text.contains(
            "prio 1 protocol ip u32 ht 1: match u16 0x0035 0xffff at 0 match u16 0x0400 0xfc00 at 2 action mirred"
        ));
        assert!(text.contains(
            "prio 1 protocol ip u32 match ip dst 192.168.1.0/24 match ip protocol 17 0xff match u16 0x0000 0x1fff at 6 \
             link 1: offset at 0 mask 0x0f00 shift 6 eat\n"
        ));
        // 1024-65535 is 6 blocks.
        assert_eq!(batch.matches, 6);
        assert_eq!(batch.expansion_factor, 6.0);
        assert_eq!(batch.filters, 1 + 6 + 1);
    }

    #[test]
    fn ports_without_a_protocol_mean_tcp_udp_or_sctp_and_both_families() {
        let keys = Keys { dst_port: Some(PortMatch::exact(80)), ..Keys::default() };
        let set = RuleSet::new(vec![rule(1, Protocol::All, keys, Action::Drop)]);
        let batch = compile_tc(&set, Target::TcU32, &lab_opts()).unwrap();
        let links: Vec<&str> = batch.text.lines().filter(|l| l.contains(" link ")).collect();
        assert_eq!(links.len(), 6, "{}", batch.text);
        assert!(links.iter().all(|l| l.contains("protocol all u32 match u16 0x")));
        assert!(links[0].contains("match u16 0x0800 0xffff at -2 match ip protocol 6 0xff"));
        assert!(links[5].contains("match u16 0x86dd 0xffff at -2 match ip6 protocol 132 0xff"));
        assert!(links[5].ends_with("offset plus 40 eat"));
        assert!(batch.notes.iter().any(|n| n.contains("extension headers")));
    }

    #[test]
    fn macs_tos_ttl_and_fragments() {
        let keys = Keys {
            dst_mac: Some(Masked::<u64>::new(0x0200_0000_0001, 0xffff_ffff_ffff)),
            src_mac: Some(Masked::<u64>::new(0x0a00_0000_0000, 0xff00_0000_0000)),
            ip_tos: Some(Masked::<u8>::new(0x10, 0xfc)),
            ip_ttl: Some(Masked::<u8>::exact(64)),
            ip_flags: Some(Masked::<u8>::new(0, IP_FLAG_FRAG)),
            ..Keys::default()
        };
        let set = RuleSet::new(vec![rule(1, Protocol::Ipv4, keys, Action::Pass)]);
        let batch = compile_tc(&set, Target::TcU32, &lab_opts()).unwrap();
        let line = batch.text.lines().find(|l| l.starts_with("filter add")).unwrap();
        assert_eq!(
            line,
            "filter add dev dut0 ingress prio 1 protocol ip u32 match u16 0x0200 0xffff at -14 \
             match u16 0x0000 0xffff at -12 match u16 0x0001 0xffff at -10 match u16 0x0a00 0xff00 at -8 \
             match u8 0x10 0xfc at 1 match u8 0x40 0xff at 8 match u16 0x0000 0x3fff at 6 classid 1:1"
        );
        assert!(!batch.rules[0].counted);
    }

    #[test]
    fn refusals_name_every_rule_and_the_reason() {
        let set = RuleSet::new(vec![
            rule(1, Protocol::Vlan, Keys::default(), Action::Drop),
            rule(2, Protocol::Ipv4, Keys { enc_key_id: Some(5), ..Keys::default() }, Action::Drop),
            rule(3, Protocol::Ipv4, Keys::default(), Action::Reflect),
            rule(
                4,
                Protocol::Ipv4,
                Keys { ip_flags: Some(Masked::<u8>::exact(IP_FLAG_FRAG)), ..Keys::default() },
                Action::Drop,
            ),
            rule(5, Protocol::Ipv4, Keys::default(), Action::Fwd(3)),
            rule(6, Protocol::Ipv4, Keys::default(), Action::Drop),
            rule(7, Protocol::Ether(0x0806), Keys::default(), Action::Drop),
            rule(8, Protocol::Ipv4, Keys { icmp_type: Some(Masked::<u8>::exact(8)), ..Keys::default() }, Action::Drop),
            Rule {
                hook: rules::Hook::Egress { dev: Some("dut1".into()) },
                ..rule(9, Protocol::Ipv4, Keys::default(), Action::Drop)
            },
        ]);
        let Err(Error::Refused { refusals, .. }) = compile_tc(&set, Target::TcU32, &lab_opts()) else {
            panic!("expected refusals");
        };
        let lines: Vec<usize> = refusals.iter().map(|r| r.line).collect();
        // The rules outside ingress chain 0 first, then those of chain 0 in order.
        assert_eq!(lines, [9, 1, 2, 3, 4, 5, 7, 8]);
        assert!(refusals[0].reason.contains("egress filter (of dev dut1"), "{}", refusals[0]);
        assert!(refusals[1].reason.contains("VLAN"));
        assert!(refusals[5].reason.contains("fwd 3"));
        assert!(refusals[6].reason.contains("u32 cannot test `protocol`"), "{}", refusals[6]);
        assert!(refusals[7].reason.contains("u32 cannot test `type`"), "{}", refusals[7]);
    }

    #[test]
    fn drop_without_gact_or_a_drop_device_is_refused() {
        let mut opts = lab_opts();
        opts.drop_dev = None;
        let set = RuleSet::new(vec![rule(1, Protocol::All, Keys::default(), Action::Drop)]);
        let Err(Error::Refused { refusals, .. }) = compile_tc(&set, Target::TcU32, &opts) else { panic!() };
        assert!(refusals[0].reason.contains("no act_gact"), "{}", refusals[0].reason);
        opts.caps.act_gact = true;
        let batch = compile_tc(&set, Target::TcU32, &opts).unwrap();
        assert!(batch.text.contains("protocol all u32 match u32 0 0 at 0 action drop\n"));
    }

    #[test]
    fn rules_that_cannot_match_are_left_out() {
        let keys = Keys { src_ip: Some(Prefix::v4([1, 2, 3, 4], 32)), ..Keys::default() };
        let set = RuleSet::new(vec![rule(1, Protocol::Ipv6, keys, Action::Drop)]);
        let batch = compile_tc(&set, Target::TcU32, &lab_opts()).unwrap();
        assert_eq!(batch.filters, 0);
        assert!(batch.rules[0].prios.is_empty());
        assert!(batch.text.contains("left out"));
    }
}
