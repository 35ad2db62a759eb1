//! Keys that match a chosen rule first, for `dataplane gen --rules FILE --match-rule K`: the
//! lab's "first" and "last" rule cases are then exact, not hoped for.
//!
//! The key starts from the rule's own values (a prefix's network address with the base
//! key's host bits, a range's low end, a masked value with the base key's other bits). If an
//! earlier rule (in `RuleSet::order`) matches that too, the bits rule K leaves free are
//! varied at random, a bounded number of times, until no earlier rule matches. Every answer
//! is checked with [`Rule::matches`], the meaning every classifier shares.

use std::fmt;

use rules::key::IP_FLAG_FRAG;
use rules::{Family, Masked, PacketKey, PortMatch, Prefix, Protocol, Rule, RuleSet};

use crate::template::{from_key, Template, TemplateError, TemplateKind};

/// Why no frame could be made to match a rule first; the message names the rule (index and
/// line) and what stands in the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatchError {
    /// An index past the file's rules.
    NoSuchRule {
        /// The index asked for.
        k: usize,
        /// The rules in the file.
        rules: usize,
    },
    /// The rule is missing from the set's matching order (a bug in the set).
    NotInOrder {
        /// The rule's index.
        k: usize,
    },
    /// The rule's own keys contradict each other.
    Contradiction {
        /// The rule's index.
        k: usize,
        /// Its line in the file.
        line: usize,
        /// Which keys.
        why: Contradiction,
    },
    /// No key of the generator's kind (IP, UDP or TCP) matches the rule.
    NoKeyOfKind {
        /// The rule's index.
        k: usize,
        /// Its line in the file.
        line: usize,
    },
    /// Every key tried that matches the rule matches an earlier one too.
    Shadowed {
        /// The rule's index.
        k: usize,
        /// Its line in the file.
        line: usize,
        /// How many keys were tried.
        tries: u32,
        /// The line of the last earlier rule in the way.
        blocker: usize,
    },
    /// A flow of the template matches another rule (or none) first.
    FlowMatchesOther {
        /// The flow.
        flow: u32,
        /// The frames, as [`Template::describe`] says.
        frames: String,
        /// The rule it matches first, as (index, line); `None`: no rule.
        found: Option<(usize, usize)>,
        /// The rule it should match.
        k: usize,
    },
    /// The key found cannot be sent by the template.
    Template {
        /// The rule's index.
        k: usize,
        /// Why the template cannot carry it.
        source: TemplateError,
    },
}

/// Keys of one rule that no packet can satisfy together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contradiction {
    /// `src_ip` and `dst_ip` of different families.
    PrefixFamilies,
    /// `protocol` of one family, an address prefix of the other.
    ProtocolAndPrefixes,
    /// `tcp_flags` with an `ip_proto` other than TCP.
    TcpFlagsWithoutTcp,
    /// Ports of an IP protocol that has none.
    PortsWithoutPorts {
        /// The protocol.
        protocol: u8,
    },
    /// `enc_src_ip` and `enc_dst_ip` of different families.
    OuterPrefixFamilies,
}

impl fmt::Display for Contradiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contradiction::PrefixFamilies => f.write_str("its source and destination prefixes differ in family"),
            Contradiction::ProtocolAndPrefixes => f.write_str("its protocol and its address prefixes differ in family"),
            Contradiction::TcpFlagsWithoutTcp => f.write_str("it tests TCP flags of a protocol other than TCP"),
            Contradiction::PortsWithoutPorts { protocol } => {
                write!(f, "it tests ports of IP protocol {protocol}, which has none")
            }
            Contradiction::OuterPrefixFamilies => {
                f.write_str("its outer source and destination prefixes differ in family")
            }
        }
    }
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchError::NoSuchRule { k, rules } => write!(f, "there is no rule {k}: the file has {rules} rules"),
            MatchError::NotInOrder { k } => write!(f, "rule {k} is not in the order"),
            MatchError::Contradiction { k, line, why } => write!(f, "rule {k} (line {line}): {why}"),
            MatchError::NoKeyOfKind { k, line } => {
                write!(f, "rule {k} (line {line}): no key of the generator's kind matches it")
            }
            MatchError::Shadowed { k, line, tries, blocker } => write!(
                f,
                "rule {k} (line {line}): every one of {tries} keys that match it also matches an earlier rule (last: \
                 line {blocker}); it may be shadowed entirely"
            ),
            MatchError::FlowMatchesOther { flow, frames, found, k } => {
                let found = found.map_or("no rule".to_string(), |(i, line)| format!("rule {i} (line {line})"));
                write!(
                    f,
                    "flow {flow} of the {frames} frames matches {found}, not rule {k}: use fewer --flows, or a rule \
                     that leaves the source port free"
                )
            }
            MatchError::Template { k, source } => write!(f, "rule {k}: {source}"),
        }
    }
}

impl std::error::Error for MatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MatchError::Template { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// How many varied keys to try before giving up.
const TRIES: u32 = 20_000;

/// A key that matches rule `k` (its index in `set.rules`) and no rule before it in
/// `set.order`, built on the default IPv4/UDP frame. `None` when there is none to be found
/// (see [`key_matching_rule_from`] for the reason).
pub fn key_matching_rule(set: &rules::RuleSet, k: usize) -> Option<rules::PacketKey> {
    key_matching_rule_from(set, k, &Template::new(TemplateKind::Udp, false).key()).ok()
}

/// [`key_matching_rule`] starting from `base` (a template's key): the fields rule `k` does
/// not test keep `base`'s values where no earlier rule is in the way. The error says why no
/// key was found.
pub fn key_matching_rule_from(set: &RuleSet, k: usize, base: &PacketKey) -> Result<PacketKey, MatchError> {
    let rule = set.rules.get(k).ok_or(MatchError::NoSuchRule { k, rules: set.len() })?;
    let position = set.order.iter().position(|&i| i == k).ok_or(MatchError::NotInOrder { k })?;
    let earlier: Vec<&Rule> = set.order[..position].iter().map(|&i| &set.rules[i]).collect();
    let first = first_pick(rule, base).map_err(|why| MatchError::Contradiction { k, line: rule.line, why })?;
    if !rule.matches(&first) {
        return Err(MatchError::NoKeyOfKind { k, line: rule.line });
    }
    let shadows = |key: &PacketKey| earlier.iter().find(|r| r.matches(key)).map(|r| r.line);
    let Some(mut blocker) = shadows(&first) else { return Ok(first) };
    let mut random = XorShift::new(0x9e37_79b9_7f4a_7c15 ^ k as u64);
    for _ in 0..TRIES {
        let key = vary(rule, &first, &mut random);
        if !rule.matches(&key) {
            continue;
        }
        match shadows(&key) {
            None => return Ok(key),
            Some(line) => blocker = line,
        }
    }
    Err(MatchError::Shadowed { k, line: rule.line, tries: TRIES, blocker })
}

/// The frames of `template` (each of its `flows`) match rule `k` first: checks what
/// `--match-rule` promises before anything is sent.
pub fn check_template_matches(set: &RuleSet, k: usize, template: &Template, flows: u32) -> Result<(), MatchError> {
    let first_match = |key: &PacketKey| set.order.iter().copied().find(|&i| set.rules[i].matches(key));
    for flow in 0..flows.max(1) {
        let key = template.for_flow(flow).key();
        match first_match(&key) {
            Some(i) if i == k => {}
            other => {
                return Err(MatchError::FlowMatchesOther {
                    flow,
                    frames: template.describe(),
                    found: other.map(|i| (i, set.rules[i].line)),
                    k,
                });
            }
        }
    }
    Ok(())
}

/// A template of `kind` whose frames match rule `k` first (flow 0).
pub fn template_matching_rule(
    set: &RuleSet,
    k: usize,
    kind: TemplateKind,
    ipv6: bool,
    size: usize,
) -> Result<Template, MatchError> {
    let mut base = Template::new(kind, ipv6);
    base.size = size;
    let key = key_matching_rule_from(set, k, &base.key())?;
    let template = from_key(&key, kind, size).map_err(|source| MatchError::Template { k, source })?;
    check_template_matches(set, k, &template, 1)?;
    Ok(template)
}

/// `base` with every field rule `rule` tests set to a value the rule accepts.
fn first_pick(rule: &Rule, base: &PacketKey) -> Result<PacketKey, Contradiction> {
    let keys = &rule.keys;
    let mut key = *base;
    // The family: from the protocol, else from an address key.
    let family = match rule.protocol {
        Protocol::Ipv4 => Some(Family::V4),
        Protocol::Ipv6 => Some(Family::V6),
        // ARP, MPLS...: the templates send IP only, so no key of theirs matches (NoKeyOfKind).
        Protocol::All | Protocol::Vlan | Protocol::Ether(_) => None,
    };
    let prefix_family = match (keys.src_ip, keys.dst_ip) {
        (Some(a), Some(b)) if a.family != b.family => return Err(Contradiction::PrefixFamilies),
        (Some(p), _) | (None, Some(p)) => Some(p.family),
        (None, None) => None,
    };
    let family = match (family, prefix_family) {
        (Some(a), Some(b)) if a != b => return Err(Contradiction::ProtocolAndPrefixes),
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) if key.family == Family::None => Family::V4,
        (None, None) => key.family,
    };
    if family != key.family {
        key.family = family;
        let default = match family {
            Family::V6 => (0x2001_0002_0000_0000_0000_0000_0000_0001, 0x2001_0002_0000_0001_0000_0000_0000_0001),
            _ => (0xc612_0001, 0xc613_0001), // 198.18.0.1, 198.19.0.1
        };
        (key.src_ip, key.dst_ip) = default;
    }
    if let Some(p) = keys.src_ip {
        key.src_ip = in_prefix(&p, key.src_ip);
    }
    if let Some(p) = keys.dst_ip {
        key.dst_ip = in_prefix(&p, key.dst_ip);
    }
    if keys.tcp_flags.is_some() && keys.ip_proto.is_some_and(|p| p != 6) {
        return Err(Contradiction::TcpFlagsWithoutTcp);
    }
    if let Some(proto) = keys.ip_proto {
        key.ip_proto = proto;
    } else if keys.tcp_flags.is_some() {
        key.ip_proto = 6;
    }
    key.has_ports = matches!(key.ip_proto, 6 | 17 | 132);
    key.has_tcp_flags = key.ip_proto == 6;
    if !key.has_tcp_flags {
        key.tcp_flags = 0;
    }
    if (keys.src_port.is_some() || keys.dst_port.is_some()) && !key.has_ports {
        return Err(Contradiction::PortsWithoutPorts { protocol: key.ip_proto });
    }
    if let Some(m) = keys.src_port {
        key.src_port = port_in(&m, key.src_port);
    }
    if let Some(m) = keys.dst_port {
        key.dst_port = port_in(&m, key.dst_port);
    }
    if let Some(m) = keys.ip_tos {
        key.ip_tos = masked_u8(m, key.ip_tos);
    }
    if let Some(m) = keys.ip_ttl {
        key.ip_ttl = masked_u8(m, key.ip_ttl);
    }
    if let Some(m) = keys.tcp_flags {
        key.tcp_flags = m.value | (key.tcp_flags & !m.mask & 0x0fff);
    }
    if let Some(m) = keys.ip_flags {
        key.ip_flags = masked_u8(m, key.ip_flags);
        if key.ip_flags & IP_FLAG_FRAG != 0 && key.ip_flags & rules::key::IP_FLAG_FIRSTFRAG == 0 {
            // A later fragment has no L4 header.
            key.has_ports = false;
            key.has_tcp_flags = false;
        }
    }
    if let Some(m) = keys.src_mac {
        key.has_l2 = true;
        key.src_mac = mac_bytes(m.value | (mac_u64(key.src_mac) & !m.mask));
    }
    if let Some(m) = keys.dst_mac {
        key.has_l2 = true;
        key.dst_mac = mac_bytes(m.value | (mac_u64(key.dst_mac) & !m.mask));
    }
    if rule.protocol == Protocol::Vlan || keys.vlan_id.is_some() || keys.vlan_prio.is_some() {
        key.has_l2 = true;
        key.has_vlan = true;
        key.vlan_id = keys.vlan_id.unwrap_or(if base.has_vlan { base.vlan_id } else { 1 });
        key.vlan_prio = keys.vlan_prio.unwrap_or(key.vlan_prio);
    }
    let tunnel_keys = keys.enc_key_id.is_some()
        || keys.enc_src_ip.is_some()
        || keys.enc_dst_ip.is_some()
        || keys.enc_dst_port.is_some();
    if tunnel_keys {
        key.tunnel = true;
        let enc_family = match (keys.enc_src_ip, keys.enc_dst_ip) {
            (Some(a), Some(b)) if a.family != b.family => return Err(Contradiction::OuterPrefixFamilies),
            (Some(p), _) | (None, Some(p)) => p.family,
            (None, None) if key.enc_family == Family::None => Family::V4,
            (None, None) => key.enc_family,
        };
        if enc_family != key.enc_family {
            key.enc_family = enc_family;
            (key.enc_src_ip, key.enc_dst_ip) = match enc_family {
                Family::V6 => (0x2001_0002_0000_00ff_0000_0000_0000_0001, 0x2001_0002_0000_00ff_0000_0000_0000_0002),
                _ => (0xc612_6401, 0xc613_6401), // 198.18.100.1, 198.19.100.1
            };
        }
        if let Some(p) = keys.enc_src_ip {
            key.enc_src_ip = in_prefix(&p, key.enc_src_ip);
        }
        if let Some(p) = keys.enc_dst_ip {
            key.enc_dst_ip = in_prefix(&p, key.enc_dst_ip);
        }
        if let Some(id) = keys.enc_key_id {
            (key.has_enc_key_id, key.enc_key_id) = (true, id);
        }
        if let Some(port) = keys.enc_dst_port {
            (key.has_enc_dst_port, key.enc_dst_port) = (true, port);
        }
    }
    Ok(key)
}

/// `first` with the bits rule `rule` leaves free set at random (the tested bits stay).
fn vary(rule: &Rule, first: &PacketKey, random: &mut XorShift) -> PacketKey {
    let keys = &rule.keys;
    let mut key = *first;
    let width_mask = |family: Family| if family == Family::V6 { u128::MAX } else { u128::from(u32::MAX) };
    let vary_addr = |prefix: Option<Prefix>, family: Family, addr: u128, random: &mut XorShift| {
        let free = width_mask(family) & !prefix.map_or(0, |p| p.mask());
        // Keep the top byte of an unconstrained address so it stays a plausible unicast one.
        let free = if prefix.is_none() { free >> 8 } else { free };
        (addr & !free) | (random.next_u128() & free)
    };
    key.src_ip = vary_addr(keys.src_ip, key.family, key.src_ip, random);
    key.dst_ip = vary_addr(keys.dst_ip, key.family, key.dst_ip, random);
    if key.has_ports {
        key.src_port = vary_port(keys.src_port, random);
        key.dst_port = vary_port(keys.dst_port, random);
    }
    if let Some(m) = keys.ip_tos {
        key.ip_tos = m.value | (random.next() as u8 & !m.mask);
    } else {
        key.ip_tos = random.next() as u8;
    }
    if let Some(m) = keys.ip_ttl {
        key.ip_ttl = m.value | (random.next() as u8 & !m.mask);
    } else {
        // Not 0 or 1: a router on the way would drop it (RFC 1812 §5.3.1).
        key.ip_ttl = 2 + (random.next() % 254) as u8;
    }
    if key.has_tcp_flags {
        let free = keys.tcp_flags.map_or(0x0fff, |m| !m.mask & 0x0fff);
        key.tcp_flags = (key.tcp_flags & !free) | (random.next() as u16 & free);
    }
    if key.has_l2 {
        key.src_mac = vary_mac(keys.src_mac, key.src_mac, random);
        key.dst_mac = vary_mac(keys.dst_mac, key.dst_mac, random);
    }
    if key.has_vlan {
        if keys.vlan_id.is_none() {
            key.vlan_id = 1 + (random.next() % 4094) as u16;
        }
        if keys.vlan_prio.is_none() {
            key.vlan_prio = (random.next() % 8) as u8;
        }
    }
    if key.tunnel {
        key.enc_src_ip = vary_addr(keys.enc_src_ip, key.enc_family, key.enc_src_ip, random);
        key.enc_dst_ip = vary_addr(keys.enc_dst_ip, key.enc_family, key.enc_dst_ip, random);
        if key.has_enc_key_id && keys.enc_key_id.is_none() {
            key.enc_key_id = (random.next() & 0x00ff_ffff) as u32;
        }
    }
    key
}

fn vary_port(want: Option<PortMatch>, random: &mut XorShift) -> u16 {
    match want {
        Some(PortMatch::Range { lo, hi }) => lo + (random.next() % (u64::from(hi - lo) + 1)) as u16,
        Some(PortMatch::Masked(m)) => m.value | (random.next() as u16 & !m.mask),
        // Free: not a tunnel port, which would make the frame parse as a tunnel.
        None => loop {
            let port = 1024 + (random.next() % 64512) as u16;
            if port != wire::udp_port::VXLAN && port != wire::udp_port::GENEVE {
                break port;
            }
        },
    }
}

fn vary_mac(want: Option<Masked<u64>>, current: [u8; 6], random: &mut XorShift) -> [u8; 6] {
    let free = want.map_or(0x0000_ffff_ffff_ffff, |m| !m.mask & 0x0000_ffff_ffff_ffff);
    // A free MAC stays locally administered unicast (02:...).
    let free = if want.is_none() { free & 0x0000_00ff_ffff_ffff } else { free };
    mac_bytes((mac_u64(current) & !free) | (random.next() & free))
}

/// The address in `prefix` with `current`'s host bits (when `current` is of its family).
fn in_prefix(prefix: &Prefix, current: u128) -> u128 {
    let host = !prefix.mask() & if prefix.family == Family::V6 { u128::MAX } else { u128::from(u32::MAX) };
    prefix.addr | (current & host)
}

/// A port the rule accepts: `current` if it does, else the range's low end or the masked
/// value with `current`'s free bits.
fn port_in(want: &PortMatch, current: u16) -> u16 {
    if want.matches(current) {
        return current;
    }
    match *want {
        PortMatch::Range { lo, .. } => lo,
        PortMatch::Masked(m) => m.value | (current & !m.mask),
    }
}

fn masked_u8(m: Masked<u8>, current: u8) -> u8 {
    m.value | (current & !m.mask)
}

fn mac_u64(mac: [u8; 6]) -> u64 {
    rules::rule::mac_u64(mac)
}

fn mac_bytes(value: u64) -> [u8; 6] {
    let b = value.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// xorshift64*: deterministic, so the same rule file gives the same frames every run.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_u128(&mut self) -> u128 {
        u128::from(self.next()) << 64 | u128::from(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::{Action, Keys};

    fn rule(line: usize, keys: Keys) -> Rule {
        Rule::new(line, 1, Protocol::All, keys, Action::Drop)
    }

    fn first_match(set: &RuleSet, key: &PacketKey) -> Option<usize> {
        set.order.iter().copied().find(|&i| set.rules[i].matches(key))
    }

    /// 1000 rules on dst 10.0.x.y/32, then the one we want last: a /16 that the earlier
    /// ones cover only in part.
    fn many_rules() -> RuleSet {
        let mut rules: Vec<Rule> = (0..1000u32)
            .map(|i| {
                let keys = Keys {
                    ip_proto: Some(17),
                    dst_ip: Some(Prefix::v4([10, 0, (i / 256) as u8, (i % 256) as u8], 32)),
                    dst_port: Some(PortMatch::exact(80)),
                    ..Keys::default()
                };
                rule(i as usize + 1, keys)
            })
            .collect();
        rules.push(rule(
            1001,
            Keys { ip_proto: Some(17), dst_ip: Some(Prefix::v4([10, 0, 0, 0], 16)), ..Keys::default() },
        ));
        RuleSet::new(rules)
    }

    #[test]
    fn first_and_last_of_a_thousand() {
        let set = many_rules();
        for k in [0, 1, 500, 999, 1000] {
            let key = key_matching_rule(&set, k).unwrap_or_else(|| panic!("rule {k}"));
            assert_eq!(first_match(&set, &key), Some(k), "rule {k}: {key:?}");
        }
    }

    #[test]
    fn a_shadowed_rule_has_no_key_and_says_why() {
        let broad = rule(1, Keys { ip_proto: Some(17), ..Keys::default() });
        let narrow = rule(2, Keys { ip_proto: Some(17), dst_port: Some(PortMatch::exact(53)), ..Keys::default() });
        let set = RuleSet::new(vec![broad, narrow]);
        assert!(key_matching_rule(&set, 1).is_none());
        let why = key_matching_rule_from(&set, 1, &PacketKey::default()).unwrap_err();
        assert!(matches!(why, MatchError::Shadowed { k: 1, line: 2, blocker: 1, .. }), "{why:?}");
        let why = why.to_string();
        assert!(why.contains("line 1") && why.contains("shadowed"), "{why}");
        let missing = key_matching_rule_from(&set, 7, &PacketKey::default()).unwrap_err();
        assert_eq!(missing, MatchError::NoSuchRule { k: 7, rules: 2 });
        assert!(missing.to_string().contains("no rule 7"));
    }

    #[test]
    fn prio_order_decides_what_is_earlier() {
        // Rule 0 comes later in matching order (prio 5) than rule 1 (prio 1).
        let mut wide = rule(1, Keys { ip_proto: Some(6), ..Keys::default() });
        wide.prio = 5;
        let ssh = rule(2, Keys { ip_proto: Some(6), dst_port: Some(PortMatch::exact(22)), ..Keys::default() });
        let set = RuleSet::new(vec![wide, ssh]);
        let key = key_matching_rule(&set, 0).unwrap();
        assert_eq!(first_match(&set, &key), Some(0));
        assert_ne!(key.dst_port, 22);
        assert_eq!((key.ip_proto, key.has_tcp_flags), (6, true));
    }

    #[test]
    fn ranges_masks_macs_vlan_ipv6_and_tunnel_keys() {
        let keys = Keys {
            src_mac: Some(Masked::<u64>::new(0x0200_0000_0000, 0xffff_0000_0000)),
            vlan_id: Some(100),
            src_ip: Some(Prefix::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 32)),
            ip_proto: Some(6),
            src_port: Some(PortMatch::Range { lo: 2000, hi: 2010 }),
            dst_port: Some(PortMatch::Masked(Masked::<u16>::new(0x1f00, 0xff00))),
            tcp_flags: Some(Masked::<u16>::new(0x002, 0x012)),
            ip_ttl: Some(Masked::<u8>::new(0x40, 0xf0)),
            enc_key_id: Some(7),
            enc_dst_port: Some(4789),
            ..Keys::default()
        };
        let earlier = rule(1, Keys { src_port: Some(PortMatch::exact(2000)), ..Keys::default() });
        let set = RuleSet::new(vec![earlier, rule(2, keys)]);
        let key = key_matching_rule(&set, 1).unwrap();
        assert_eq!(first_match(&set, &key), Some(1));
        assert!(key.tunnel && key.has_vlan && key.family == Family::V6 && key.src_port != 2000, "{key:?}");
        // And a frame made from it matches too, as the generator sends it.
        let template = from_key(&key, TemplateKind::Vxlan, 200).unwrap();
        assert_eq!(first_match(&set, &template.key()), Some(1));
    }

    #[test]
    fn templates_of_every_kind_match_the_rule_they_were_made_for() {
        let set = many_rules();
        for kind in [TemplateKind::Udp, TemplateKind::Vxlan, TemplateKind::Gre, TemplateKind::Geneve] {
            for k in [0, 999, 1000] {
                let template = template_matching_rule(&set, k, kind, false, 128).unwrap();
                assert_eq!(first_match(&set, &template.key()), Some(k), "{kind:?} rule {k}");
            }
        }
        let why = template_matching_rule(&set, 0, TemplateKind::Tcp, false, 128).unwrap_err();
        assert!(matches!(why, MatchError::Template { k: 0, source: TemplateError::KeyProtocolNotTemplate { .. } }));
        assert!(why.to_string().contains("IP protocol 17"), "{why}");
        // Flow 1 has another source port: still rule 1000 (it leaves the source free).
        let template = template_matching_rule(&set, 1000, TemplateKind::Udp, false, 128).unwrap();
        check_template_matches(&set, 1000, &template, 64).unwrap();
        let pinned = rule(1, Keys { src_port: Some(PortMatch::exact(1024)), ..Keys::default() });
        let set = RuleSet::new(vec![pinned]);
        let template = template_matching_rule(&set, 0, TemplateKind::Udp, false, 128).unwrap();
        let why = check_template_matches(&set, 0, &template, 2).unwrap_err();
        assert!(matches!(why, MatchError::FlowMatchesOther { flow: 1, found: None, k: 0, .. }), "{why:?}");
        assert!(why.to_string().contains("flow 1"), "{why}");
    }
}
