//! ClassBench-style rule sets and traces, generated from a seed (no external files), for
//! benchmarks, differential tests and the comparison with DPDK's `dpdk-test-acl`.
//!
//! Not ClassBench itself (Taylor & Turner's seed files are not shipped here), but the same
//! shape: three styles whose statistics follow the published descriptions of the ClassBench
//! seeds.
//!
//! - [`Style::Acl`]: long destination prefixes (most /24 to /32), source prefixes of all
//!   lengths, mostly exact destination ports, few wildcards.
//! - [`Style::Fw`]: firewall sets, many wildcards on addresses and ports, port ranges
//!   (`[1024:65535]`, arbitrary ranges).
//! - [`Style::Ipc`]: between the two.
//!
//! Addresses nest: each rule draws its address from a skewed pool of networks, so prefixes
//! of different lengths over the same address ranges are common (as in real sets, which is
//! what makes classification hard). Port classes are ClassBench's: wildcard `[0:65535]`,
//! `HI` `[1024:65535]`, `LO` `[0:1023]`, exact, and arbitrary ranges.
//!
//! Text: [`write_classbench`] writes the rule lines `@src/len dst/len lo : hi lo : hi
//! 0xPP/0xMM` that both `dataplane rules classify --format classbench` and `dpdk-test-acl
//! --rulesf` read, and [`write_trace`] the trace lines `src dst sport dport proto` (u32
//! decimals, as `dpdk-test-acl --tracef` reads them with `strtoul(.., 0)`).

use std::fmt::Write as _;

use crate::key::{Family, PacketKey};
use crate::lex::UnknownName;
use crate::rule::{
    Action, Keys, Masked, PortMatch, Prefix, Protocol, Rule, RuleSet, ETHERTYPE_ARP, ETHERTYPE_CFM, ETHERTYPE_MPLS,
    ETHERTYPE_PPPOE,
};

/// A small deterministic generator (SplitMix64): the same seed gives the same sets on every
/// machine and Rust version, which a library RNG does not promise.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; the tiny modulo bias does not matter here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else if hi - lo == u64::MAX {
            self.next_u64()
        } else {
            lo + self.below(hi - lo + 1)
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < u64::from(percent)
    }

    /// Picks an index by weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut pick = self.below(u64::from(total)) as u32;
        for (index, &weight) in weights.iter().enumerate() {
            if pick < weight {
                return index;
            }
            pick -= weight;
        }
        weights.len() - 1
    }
}

/// Which ClassBench seed family to imitate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// Access control lists: long destination prefixes, mostly exact destination ports.
    Acl,
    /// Firewalls: many wildcards, port ranges.
    Fw,
    /// IP chains: between the two.
    Ipc,
}

impl Style {
    /// Every style, in the order reports list them.
    pub const ALL: [Style; 3] = [Style::Acl, Style::Fw, Style::Ipc];

    /// The name on command lines and in file names (`acl`, `fw`, `ipc`).
    pub fn name(self) -> &'static str {
        match self {
            Style::Acl => "acl",
            Style::Fw => "fw",
            Style::Ipc => "ipc",
        }
    }
}

impl std::str::FromStr for Style {
    type Err = UnknownName;
    fn from_str(text: &str) -> Result<Style, UnknownName> {
        Style::ALL.into_iter().find(|style| style.name() == text).ok_or_else(|| UnknownName {
            what: "rule-set style",
            found: text.into(),
            known: &["acl", "fw", "ipc"],
        })
    }
}

/// Prefix-length classes: (weight, shortest, longest).
type LenDist = &'static [(u32, u8, u8)];
/// Port classes, ClassBench's: wildcard, HI `[1024:65535]`, LO `[0:1023]`, exact, arbitrary range.
#[derive(Clone, Copy)]
struct PortDist {
    wildcard: u32,
    hi: u32,
    lo: u32,
    exact: u32,
    range: u32,
}

struct Profile {
    src_len: LenDist,
    dst_len: LenDist,
    src_port: PortDist,
    dst_port: PortDist,
    /// Weights of TCP, UDP, ICMP, wildcard.
    proto: [u32; 4],
}

fn profile(style: Style) -> Profile {
    match style {
        Style::Acl => Profile {
            src_len: &[(15, 0, 0), (10, 8, 16), (25, 17, 24), (15, 25, 31), (35, 32, 32)],
            dst_len: &[(5, 0, 0), (10, 16, 23), (25, 24, 24), (15, 25, 31), (45, 32, 32)],
            src_port: PortDist { wildcard: 94, hi: 1, lo: 0, exact: 5, range: 0 },
            dst_port: PortDist { wildcard: 20, hi: 12, lo: 3, exact: 55, range: 10 },
            proto: [70, 18, 5, 7],
        },
        Style::Fw => Profile {
            src_len: &[(45, 0, 0), (10, 8, 16), (20, 17, 24), (25, 32, 32)],
            dst_len: &[(30, 0, 0), (25, 16, 24), (45, 32, 32)],
            src_port: PortDist { wildcard: 70, hi: 15, lo: 0, exact: 10, range: 5 },
            dst_port: PortDist { wildcard: 25, hi: 15, lo: 5, exact: 45, range: 10 },
            proto: [55, 20, 0, 25],
        },
        Style::Ipc => Profile {
            src_len: &[(20, 0, 0), (10, 8, 16), (25, 17, 24), (10, 25, 31), (35, 32, 32)],
            dst_len: &[(15, 0, 0), (10, 8, 16), (30, 17, 24), (45, 32, 32)],
            src_port: PortDist { wildcard: 70, hi: 10, lo: 5, exact: 15, range: 0 },
            dst_port: PortDist { wildcard: 25, hi: 10, lo: 5, exact: 50, range: 10 },
            proto: [50, 30, 10, 10],
        },
    }
}

/// Well-known service ports that exact port matches favour (as real ACLs do).
const SERVICES: [u16; 16] = [80, 443, 53, 22, 25, 110, 143, 123, 161, 389, 3306, 5432, 8080, 1521, 21, 445];

/// A skewed pool of networks addresses are drawn from, so prefixes nest.
struct AddressPool {
    networks: Vec<(u32, u8)>,
}

impl AddressPool {
    fn new(rng: &mut Rng, rules: usize) -> AddressPool {
        // A few big blocks, many networks inside them: prefixes overlap at several lengths.
        let blocks: Vec<u32> = (0..8).map(|_| (rng.next_u64() as u32) & 0xff00_0000).collect();
        let count = 4 + (rules as f64).sqrt() as usize;
        let networks = (0..count)
            .map(|_| {
                let block = blocks[rng.below(blocks.len() as u64) as usize];
                let len = [12u8, 16, 16, 20, 24][rng.below(5) as usize];
                let bits = (rng.next_u64() as u32) & 0x00ff_ffff;
                (block | bits, len)
            })
            .collect();
        AddressPool { networks }
    }

    /// An address in a network picked with a skew towards the first networks.
    fn address(&self, rng: &mut Rng) -> u32 {
        let u = (rng.below(1 << 20) as f64) / f64::from(1u32 << 20);
        let index = ((u * u) * self.networks.len() as f64) as usize;
        let (base, len) = self.networks[index.min(self.networks.len() - 1)];
        let host_mask = if len == 0 { u32::MAX } else { u32::MAX >> len };
        (base & !host_mask) | (rng.next_u64() as u32 & host_mask)
    }
}

fn prefix_len(rng: &mut Rng, dist: LenDist) -> u8 {
    let weights: Vec<u32> = dist.iter().map(|d| d.0).collect();
    let (_, lo, hi) = dist[rng.weighted(&weights)];
    rng.between(u64::from(lo), u64::from(hi)) as u8
}

fn port_match(rng: &mut Rng, dist: PortDist) -> Option<PortMatch> {
    match rng.weighted(&[dist.wildcard, dist.hi, dist.lo, dist.exact, dist.range]) {
        0 => None,
        1 => Some(PortMatch::Range { lo: 1024, hi: 65535 }),
        2 => Some(PortMatch::Range { lo: 0, hi: 1023 }),
        3 => {
            let port = if rng.chance(70) { SERVICES[rng.below(16) as usize] } else { rng.between(1, 65535) as u16 };
            Some(PortMatch::exact(port))
        }
        _ => {
            let lo = rng.between(1, 60000) as u16;
            let width = [1u64, 8, 100, 1000, 5000][rng.below(5) as usize];
            let hi = (u64::from(lo) + width).min(65535) as u16;
            Some(PortMatch::Range { lo, hi })
        }
    }
}

/// A rule over the IPv4 5-tuple, in file position `index`, all at prio 1 (so file order is
/// the matching order, as in ClassBench and dpdk-test-acl).
pub fn five_tuple_rule(
    index: usize,
    src: Option<Prefix>,
    dst: Option<Prefix>,
    src_port: Option<PortMatch>,
    dst_port: Option<PortMatch>,
    proto: Option<u8>,
) -> Rule {
    Rule {
        line: index + 1,
        action_col: 1,
        prio: 1,
        protocol: Protocol::Ipv4,
        keys: Keys { src_ip: src, dst_ip: dst, src_port, dst_port, ip_proto: proto, ..Keys::default() },
        chain: 0,
        hook: crate::rule::Hook::Ingress,
        actions: vec![Action::Drop],
    }
}

/// `n` rules in `style`, the same for the same `(style, n, seed)`.
pub fn rule_set(style: Style, n: usize, seed: u64) -> RuleSet {
    let mut rng = Rng::new(seed ^ (style as u64).wrapping_mul(0x1000_0000_01b3));
    let profile = profile(style);
    let src_pool = AddressPool::new(&mut rng, n);
    let dst_pool = AddressPool::new(&mut rng, n);
    let rules = (0..n)
        .map(|index| {
            let src_len = prefix_len(&mut rng, profile.src_len);
            let dst_len = prefix_len(&mut rng, profile.dst_len);
            let src = (src_len > 0).then(|| Prefix::v4(src_pool.address(&mut rng).to_be_bytes(), src_len));
            let dst = (dst_len > 0).then(|| Prefix::v4(dst_pool.address(&mut rng).to_be_bytes(), dst_len));
            let proto = match rng.weighted(&profile.proto) {
                0 => Some(6),
                1 => Some(17),
                2 => Some(1),
                _ => None,
            };
            // ICMP has no ports; neither do ClassBench's ICMP rules.
            let (src_port, dst_port) = if proto == Some(1) {
                (None, None)
            } else {
                (port_match(&mut rng, profile.src_port), port_match(&mut rng, profile.dst_port))
            };
            five_tuple_rule(index, src, dst, src_port, dst_port, proto)
        })
        .collect();
    RuleSet::new(rules)
}

/// Which packets a trace holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// Each packet built to fall in a rule picked uniformly (it may still match an earlier,
    /// overlapping rule first: the answer comes from the classifier, not from the pick).
    Hits,
    /// Every packet built for the last rule in matching order (the 2016 study's worst case
    /// for a linear search).
    LastRule,
    /// Random headers, half of them in the rule set's address ranges.
    Random,
    /// Three quarters [`TraceKind::Hits`], one quarter [`TraceKind::Random`].
    Mixed,
}

/// `n` packets for `set`, the same for the same arguments.
pub fn trace(set: &RuleSet, kind: TraceKind, n: usize, seed: u64) -> Vec<PacketKey> {
    let mut rng = Rng::new(seed.wrapping_add(0x7ace));
    let addresses: Vec<u128> = set
        .rules
        .iter()
        .flat_map(|r| [r.keys.src_ip, r.keys.dst_ip])
        .flatten()
        .filter(|p| p.family == Family::V4)
        .map(|p| p.addr)
        .collect();
    (0..n)
        .map(|_| {
            let target = match kind {
                _ if set.is_empty() => None,
                TraceKind::Hits => Some(rng.below(set.len() as u64) as usize),
                TraceKind::LastRule => set.order.last().copied(),
                TraceKind::Random => None,
                TraceKind::Mixed => rng.chance(75).then(|| rng.below(set.len() as u64) as usize),
            };
            match target {
                Some(index) => packet_for_rule(&set.rules[index], &mut rng),
                None => random_packet(&addresses, &mut rng),
            }
        })
        .collect()
}

fn random_packet(addresses: &[u128], rng: &mut Rng) -> PacketKey {
    let address = |rng: &mut Rng| {
        if !addresses.is_empty() && rng.chance(50) {
            let base = addresses[rng.below(addresses.len() as u64) as usize] as u32;
            (base ^ (rng.next_u64() as u32 & 0xff)).to_be_bytes()
        } else {
            (rng.next_u64() as u32).to_be_bytes()
        }
    };
    let src = address(rng);
    let dst = address(rng);
    let proto = [6u8, 17, 1][rng.below(3) as usize];
    PacketKey::ipv4_5tuple(src, dst, proto, rng.next_u64() as u16, rng.next_u64() as u16)
}

/// A value with the masked bits of `want` and random other bits.
fn fill<T>(want: Masked<T>, random: T) -> T
where
    T: Copy + std::ops::BitAnd<Output = T> + std::ops::BitOr<Output = T> + std::ops::Not<Output = T>,
{
    want.value | (random & !want.mask)
}

fn in_prefix(prefix: Prefix, rng: &mut Rng) -> u128 {
    let random = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
    let width = if prefix.family == Family::V6 { u128::MAX } else { u128::from(u32::MAX) };
    prefix.addr | (random & width & !prefix.mask())
}

fn in_port(port: PortMatch, rng: &mut Rng) -> u16 {
    match port {
        PortMatch::Masked(m) => fill(m, rng.next_u64() as u16),
        PortMatch::Range { lo, hi } => rng.between(u64::from(lo), u64::from(hi)) as u16,
    }
}

/// A packet inside every key of `rule` (random where the rule does not care), so that
/// `rule.matches(&packet)` holds unless the rule contradicts itself (e.g. `protocol ipv6`
/// with an IPv4 prefix). Works for every key of the model: MACs, VLAN, IPv6, masks, ranges,
/// tunnel keys.
pub fn packet_for_rule(rule: &Rule, rng: &mut Rng) -> PacketKey {
    let k = &rule.keys;
    let arp = [k.arp_sip, k.arp_tip].iter().any(Option::is_some)
        || k.arp_op.is_some()
        || k.arp_sha.is_some()
        || k.arp_tha.is_some();
    let mpls = k.mpls_label.is_some() || k.mpls_tc.is_some() || k.mpls_bos.is_some() || k.mpls_ttl.is_some();
    // The ethertype after the tags, where the rule names one; the family follows from it.
    let ethertype = k.eth_type.or(rule.protocol.ether()).or(if arp {
        Some(0x0806)
    } else if mpls {
        Some(0x8847)
    } else {
        None
    });
    let family = match (rule.protocol, k.src_ip.or(k.dst_ip), ethertype) {
        (_, _, Some(0x0800)) => Family::V4,
        (_, _, Some(0x86dd)) => Family::V6,
        (_, _, Some(_)) => Family::None,
        (Protocol::Ipv4, _, _) => Family::V4,
        (Protocol::Ipv6, _, _) => Family::V6,
        (_, Some(prefix), _) => prefix.family,
        _ if k.ip_proto.is_some() || k.ip_tos.is_some() || k.ip_ttl.is_some() || k.ip_flags.is_some() => Family::V4,
        _ => [Family::V4, Family::V4, Family::V6, Family::None][rng.below(4) as usize],
    };
    let random_addr = |rng: &mut Rng| match family {
        Family::V4 => u128::from(rng.next_u64() as u32),
        Family::V6 => (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
        Family::None => 0,
    };
    let ip_proto = k.ip_proto.unwrap_or([6u8, 17, 1, 47][rng.below(4) as usize]);
    let mut key = PacketKey {
        has_l2: true,
        src_mac: rng.next_u64().to_be_bytes()[2..].try_into().unwrap_or_default(),
        dst_mac: rng.next_u64().to_be_bytes()[2..].try_into().unwrap_or_default(),
        has_vlan: rng.chance(20),
        vlan_id: rng.below(4096) as u16,
        vlan_prio: rng.below(8) as u8,
        family,
        ip_proto,
        src_ip: random_addr(rng),
        dst_ip: random_addr(rng),
        ip_tos: rng.next_u64() as u8,
        ip_ttl: rng.next_u64() as u8,
        ip_flags: rng.below(4) as u8,
        has_ports: family != Family::None && matches!(ip_proto, 6 | 17 | 132),
        src_port: rng.next_u64() as u16,
        dst_port: rng.next_u64() as u16,
        has_tcp_flags: family != Family::None && ip_proto == 6,
        tcp_flags: rng.below(1 << 12) as u16,
        tunnel: rng.chance(20),
        has_enc_key_id: rng.chance(50),
        enc_key_id: rng.below(1 << 24) as u32,
        enc_family: Family::V4,
        enc_src_ip: u128::from(rng.next_u64() as u32),
        enc_dst_ip: u128::from(rng.next_u64() as u32),
        has_enc_dst_port: rng.chance(50),
        enc_dst_port: 4789,
        has_cvlan: false,
        cvlan_id: rng.below(4096) as u16,
        cvlan_prio: rng.below(8) as u8,
        num_vlans: 0,
        ethertype: match family {
            Family::V4 => 0x0800,
            Family::V6 => 0x86dd,
            Family::None => ethertype.unwrap_or([0x0806, 0x8847, 0x88cc][rng.below(3) as usize]),
        },
        has_arp: false,
        arp_op: rng.below(3) as u8,
        arp_sip: rng.next_u64() as u32,
        arp_tip: rng.next_u64() as u32,
        arp_sha: rng.next_u64().to_be_bytes()[2..].try_into().unwrap_or_default(),
        arp_tha: rng.next_u64().to_be_bytes()[2..].try_into().unwrap_or_default(),
        has_mpls: false,
        mpls_lse: rng.next_u64() as u32,
        mpls_entries: 0,
        mpls_deeper: [0; 6],
        has_pppoe: false,
        pppoe_sid: k.pppoe_sid.unwrap_or(rng.next_u64() as u16),
        ppp_proto: k.ppp_proto.unwrap_or(0x0021),
        has_cfm: false,
        cfm_mdl: rng.below(8) as u8,
        cfm_op: rng.next_u64() as u8,
        has_l2tpv3: family != Family::None && ip_proto == 115,
        l2tpv3_sid: k.l2tpv3_sid.unwrap_or(rng.next_u64() as u32),
        has_icmp: family != Family::None && matches!(ip_proto, 1 | 58),
        icmp_type: rng.next_u64() as u8,
        icmp_code: rng.next_u64() as u8,
        enc_tos: rng.next_u64() as u8,
        enc_ttl: rng.next_u64() as u8,
        has_in_port: true,
        in_port: rng.below(4) as u16,
    };
    key.has_arp = ETHERTYPE_ARP.contains(&key.ethertype);
    key.has_mpls = ETHERTYPE_MPLS.contains(&key.ethertype);
    key.has_cfm = key.ethertype == ETHERTYPE_CFM;
    key.has_pppoe = key.ethertype == ETHERTYPE_PPPOE;
    if !key.tunnel {
        key.has_enc_key_id = false;
        key.has_enc_dst_port = false;
        key.enc_family = Family::None;
        key.enc_src_ip = 0;
        key.enc_dst_ip = 0;
    }
    if rule.protocol == Protocol::Vlan || k.vlan_id.is_some() || k.vlan_prio.is_some() || k.eth_type.is_some() {
        key.has_vlan = true;
    }
    if k.cvlan || k.cvlan_id.is_some() || k.cvlan_prio.is_some() {
        key.has_cvlan = true;
    }
    key.has_vlan |= key.has_cvlan;
    key.num_vlans = match k.num_of_vlans {
        Some(n) => {
            key.has_vlan = n >= 1;
            key.has_cvlan = n >= 2;
            n
        }
        None => u8::from(key.has_vlan) + u8::from(key.has_cvlan),
    };
    key.cvlan_id = k.cvlan_id.unwrap_or(key.cvlan_id);
    key.cvlan_prio = k.cvlan_prio.unwrap_or(key.cvlan_prio);
    if let Some(p) = k.arp_sip {
        key.arp_sip = in_prefix(p, rng) as u32;
    }
    if let Some(p) = k.arp_tip {
        key.arp_tip = in_prefix(p, rng) as u32;
    }
    if let Some(m) = k.arp_op {
        key.arp_op = fill(m, key.arp_op);
    }
    if let Some(m) = k.arp_sha {
        key.arp_sha = mac_bytes(fill(m, rng.next_u64()));
    }
    if let Some(m) = k.arp_tha {
        key.arp_tha = mac_bytes(fill(m, rng.next_u64()));
    }
    let lse_field = |lse: u32, value: u32, shift: u32, bits: u32| {
        let mask = ((1u32 << bits) - 1) << shift;
        (lse & !mask) | ((value << shift) & mask)
    };
    if let Some(label) = k.mpls_label {
        key.mpls_lse = lse_field(key.mpls_lse, label, 12, 20);
    }
    if let Some(tc) = k.mpls_tc {
        key.mpls_lse = lse_field(key.mpls_lse, tc.into(), 9, 3);
    }
    if let Some(bos) = k.mpls_bos {
        key.mpls_lse = lse_field(key.mpls_lse, bos.into(), 8, 1);
    }
    if let Some(ttl) = k.mpls_ttl {
        key.mpls_lse = lse_field(key.mpls_lse, ttl.into(), 0, 8);
    }
    // ICMP only under IP, as the walker finds it (a rule with ICMP keys under ARP, say, is
    // contradictory: no packet matches it).
    if let Some(m) = k.icmp_type {
        key.has_icmp = family != Family::None;
        key.icmp_type = fill(m, key.icmp_type);
    }
    if let Some(m) = k.icmp_code {
        key.has_icmp = family != Family::None;
        key.icmp_code = fill(m, key.icmp_code);
    }
    if let Some(dev) = k.indev {
        key.in_port = dev.port;
    }
    if let Some(m) = k.src_mac {
        key.src_mac = mac_bytes(fill(m, rng.next_u64()));
    }
    if let Some(m) = k.dst_mac {
        key.dst_mac = mac_bytes(fill(m, rng.next_u64()));
    }
    key.vlan_id = k.vlan_id.unwrap_or(key.vlan_id);
    key.vlan_prio = k.vlan_prio.unwrap_or(key.vlan_prio);
    if let Some(p) = k.src_ip {
        key.src_ip = in_prefix(p, rng);
    }
    if let Some(p) = k.dst_ip {
        key.dst_ip = in_prefix(p, rng);
    }
    if k.src_port.is_some() || k.dst_port.is_some() {
        key.has_ports = true;
    }
    if let Some(p) = k.src_port {
        key.src_port = in_port(p, rng);
    }
    if let Some(p) = k.dst_port {
        key.dst_port = in_port(p, rng);
    }
    if let Some(m) = k.ip_tos {
        key.ip_tos = fill(m, key.ip_tos);
    }
    if let Some(m) = k.ip_ttl {
        key.ip_ttl = fill(m, key.ip_ttl);
    }
    if let Some(m) = k.ip_flags {
        key.ip_flags = fill(m, key.ip_flags);
    }
    if let Some(m) = k.tcp_flags {
        key.has_tcp_flags = true;
        key.tcp_flags = fill(m, key.tcp_flags) & 0x0fff;
    }
    let tunnel_keys = [k.enc_src_ip, k.enc_dst_ip];
    let outer_keys = [k.enc_tos, k.enc_ttl];
    if k.enc_key_id.is_some()
        || k.enc_dst_port.is_some()
        || tunnel_keys.iter().any(Option::is_some)
        || outer_keys.iter().any(Option::is_some)
    {
        key.tunnel = true;
        key.enc_family = k.enc_src_ip.or(k.enc_dst_ip).map_or(Family::V4, |p| p.family);
    }
    if let Some(id) = k.enc_key_id {
        key.has_enc_key_id = true;
        key.enc_key_id = id;
    }
    if let Some(p) = k.enc_src_ip {
        key.enc_src_ip = in_prefix(p, rng);
    }
    if let Some(p) = k.enc_dst_ip {
        key.enc_dst_ip = in_prefix(p, rng);
    }
    if let Some(port) = k.enc_dst_port {
        key.has_enc_dst_port = true;
        key.enc_dst_port = port;
    }
    if let Some(m) = k.enc_tos {
        key.enc_tos = fill(m, key.enc_tos);
    }
    if let Some(m) = k.enc_ttl {
        key.enc_ttl = fill(m, key.enc_ttl);
    }
    key
}

fn mac_bytes(mac: u64) -> [u8; 6] {
    let b = mac.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Why a rule has no ClassBench form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotClassBench {
    /// 0-based index of the rule in the set.
    pub rule: usize,
    /// What it has that ClassBench lines cannot say.
    pub reason: &'static str,
}

impl std::fmt::Display for NotClassBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {} has no ClassBench form: {}", self.rule, self.reason)
    }
}

impl std::error::Error for NotClassBench {}

/// The set as ClassBench rule lines, in file order (the order `dpdk-test-acl` gives priority
/// by). Only IPv4 5-tuple rules at one prio have that form; anything else is an error that
/// names the rule.
pub fn write_classbench(set: &RuleSet) -> Result<String, NotClassBench> {
    let mut out = String::new();
    let first_prio = set.rules.first().map(|r| r.prio);
    for (index, rule) in set.rules.iter().enumerate() {
        let fail = |reason| NotClassBench { rule: index, reason };
        let k = &rule.keys;
        let five_tuple_only = Keys { src_ip: None, dst_ip: None, src_port: None, dst_port: None, ip_proto: None, ..*k }
            == Keys::default();
        if !five_tuple_only {
            return Err(fail("it tests keys beyond the IPv4 5-tuple"));
        }
        if !matches!(rule.protocol, Protocol::Ipv4 | Protocol::All) {
            return Err(fail("its protocol is not ip"));
        }
        if Some(rule.prio) != first_prio {
            return Err(fail("its prio differs from the first rule's (ClassBench orders by line)"));
        }
        let prefix = |p: Option<Prefix>| match p {
            None => Ok("0.0.0.0/0".to_string()),
            Some(p) if p.family == Family::V4 => Ok(format!("{}/{}", std::net::Ipv4Addr::from(p.addr as u32), p.len)),
            Some(_) => Err(fail("it has an IPv6 prefix")),
        };
        let port = |p: Option<PortMatch>| match p {
            None => Ok((0, 65535)),
            Some(PortMatch::Range { lo, hi }) => Ok((lo, hi)),
            Some(PortMatch::Masked(m)) if (!m.mask).wrapping_add(1) & !m.mask == 0 => Ok(PortMatch::Masked(m).bounds()),
            Some(_) => Err(fail("a port mask that is not a range")),
        };
        let (src, dst) = (prefix(k.src_ip)?, prefix(k.dst_ip)?);
        let ((sl, sh), (dl, dh)) = (port(k.src_port)?, port(k.dst_port)?);
        let (proto, proto_mask) = k.ip_proto.map_or((0, 0), |p| (p, 0xff));
        let _ = writeln!(out, "@{src}\t{dst}\t{sl} : {sh}\t{dl} : {dh}\t0x{proto:02X}/0x{proto_mask:02X}");
    }
    Ok(out)
}

/// Trace lines `src dst sport dport proto` (u32 decimals). IPv4 packets only; others are
/// skipped (the ClassBench trace format has no room for them).
pub fn write_trace(packets: &[PacketKey]) -> String {
    let mut out = String::new();
    for p in packets.iter().filter(|p| p.family == Family::V4) {
        let _ =
            writeln!(out, "{}\t{}\t{}\t{}\t{}", p.src_ip as u32, p.dst_ip as u32, p.src_port, p.dst_port, p.ip_proto);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::Classifier;
    use crate::linear::Linear;

    #[test]
    fn same_seed_same_set_and_different_seed_different_set() {
        for style in Style::ALL {
            assert_eq!(rule_set(style, 300, 7), rule_set(style, 300, 7));
            assert_ne!(rule_set(style, 300, 7), rule_set(style, 300, 8));
        }
    }

    #[test]
    fn packets_built_for_a_rule_match_it() {
        let mut rng = Rng::new(1);
        for style in Style::ALL {
            let set = rule_set(style, 500, 3);
            for rule in &set.rules {
                let packet = packet_for_rule(rule, &mut rng);
                assert!(rule.matches(&packet), "{rule:?} vs {packet:?}");
            }
        }
    }

    #[test]
    fn last_rule_trace_reaches_deep_and_hits_trace_matches() {
        let set = rule_set(Style::Acl, 1000, 1);
        let linear = Linear::new(&set);
        let hits = trace(&set, TraceKind::Hits, 500, 2);
        assert!(hits.iter().all(|p| linear.classify(p).is_some()));
        let last = trace(&set, TraceKind::LastRule, 50, 2);
        assert!(last.iter().all(|p| set.rules[set.len() - 1].matches(p)));
    }

    #[test]
    fn fw_has_more_wildcards_than_acl() {
        let wild = |style| rule_set(style, 2000, 5).rules.iter().filter(|r| r.keys.src_ip.is_none()).count();
        assert!(wild(Style::Fw) > 2 * wild(Style::Acl));
    }

    #[test]
    fn classbench_text_has_the_dpdk_shape() {
        let set = RuleSet::new(vec![five_tuple_rule(
            0,
            Some(Prefix::v4([10, 1, 2, 0], 24)),
            None,
            None,
            Some(PortMatch::Range { lo: 1024, hi: 65535 }),
            Some(6),
        )]);
        assert_eq!(write_classbench(&set).unwrap(), "@10.1.2.0/24\t0.0.0.0/0\t0 : 65535\t1024 : 65535\t0x06/0xFF\n");
        let packet = PacketKey::ipv4_5tuple([10, 1, 2, 3], [1, 2, 3, 4], 17, 5, 6);
        assert_eq!(write_trace(&[packet]), "167838211\t16909060\t5\t6\t17\n");
    }

    #[test]
    fn rules_beyond_the_five_tuple_are_refused_by_name() {
        let mut rule = five_tuple_rule(0, None, None, None, None, None);
        rule.keys.vlan_id = Some(5);
        let err = write_classbench(&RuleSet::new(vec![five_tuple_rule(0, None, None, None, None, None), rule]));
        assert_eq!(err.unwrap_err().rule, 1);
    }
}
