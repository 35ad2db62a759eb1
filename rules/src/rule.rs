//! One rule: what it tests ([`Keys`]) and what it does ([`Action`]), and its meaning,
//! [`Rule::matches`], which every classifier and emitter must agree with.

use crate::key::{Family, PacketKey};

/// `protocol` of a flower rule: which L3 the plain headers carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// `all` (or no `protocol`).
    #[default]
    All,
    /// `ip`: IPv4.
    Ipv4,
    /// `ipv6`.
    Ipv6,
    /// `802.1q` / `802.1ad`: the plain headers' Ethernet header carries a VLAN tag.
    Vlan,
}

/// A value under a mask: matches when `field & mask == value` (`value` is stored pre-masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Masked<T> {
    /// The bits that must be set, under `mask`.
    pub value: T,
    /// The bits tested.
    pub mask: T,
}

macro_rules! masked_impl {
    ($($t:ty),*) => {$(
        impl Masked<$t> {
            /// All bits must be equal.
            pub const fn exact(value: $t) -> Self {
                Masked { value, mask: <$t>::MAX }
            }
            /// `value` is masked here, so `exact`-looking junk bits never make a rule unmatchable.
            pub const fn new(value: $t, mask: $t) -> Self {
                Masked { value: value & mask, mask }
            }
            #[inline]
            /// `field & mask == value`.
            pub const fn matches(&self, field: $t) -> bool {
                field & self.mask == self.value
            }
        }
    )*};
}
masked_impl!(u8, u16, u32, u64);

/// An IPv4 or IPv6 prefix. IPv4 addresses live in the low 32 bits (see [`PacketKey`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// IPv4 or IPv6 (never [`Family::None`]).
    pub family: Family,
    /// Network address, host bits cleared.
    pub addr: u128,
    /// 0..=32 for IPv4, 0..=128 for IPv6.
    pub len: u8,
}

impl Prefix {
    /// An IPv4 prefix (`len` capped at 32, host bits cleared).
    pub fn v4(addr: [u8; 4], len: u8) -> Prefix {
        let len = len.min(32);
        Prefix { family: Family::V4, addr: u128::from(u32::from_be_bytes(addr)) & Self::mask_of(Family::V4, len), len }
    }

    /// An IPv6 prefix (`len` capped at 128, host bits cleared).
    pub fn v6(addr: [u8; 16], len: u8) -> Prefix {
        let len = len.min(128);
        Prefix { family: Family::V6, addr: u128::from_be_bytes(addr) & Self::mask_of(Family::V6, len), len }
    }

    /// The mask over the u128 representation: for IPv4, within the low 32 bits.
    pub fn mask(&self) -> u128 {
        Self::mask_of(self.family, self.len)
    }

    fn mask_of(family: Family, len: u8) -> u128 {
        let width: u32 = if family == Family::V6 { 128 } else { 32 };
        let len = u32::from(len).min(width);
        if len == 0 {
            0
        } else {
            let ones = u128::MAX >> (128 - width); // `width` low bits
                                                   // checked: a shift by 128 (an IPv6 /128) would overflow.
            ones & !ones.checked_shr(len).unwrap_or(0)
        }
    }

    /// Whether an address of `family` falls in this prefix (a different family never does).
    #[inline]
    pub fn contains(&self, family: Family, addr: u128) -> bool {
        family == self.family && addr & self.mask() == self.addr
    }
}

/// `src_port` / `dst_port`: `80`, `0x50/0xfff0`, or `1024-65535`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// A value under a mask (`80` is an exact one).
    Masked(Masked<u16>),
    /// Inclusive.
    Range {
        /// The lowest port matched.
        lo: u16,
        /// The highest port matched.
        hi: u16,
    },
}

impl PortMatch {
    /// Exactly `port`.
    pub const fn exact(port: u16) -> PortMatch {
        PortMatch::Masked(Masked::<u16>::exact(port))
    }

    #[inline]
    /// Whether `port` is matched.
    pub fn matches(&self, port: u16) -> bool {
        match *self {
            PortMatch::Masked(m) => m.matches(port),
            PortMatch::Range { lo, hi } => lo <= port && port <= hi,
        }
    }

    /// The smallest and largest port it matches (for a mask: value and value | !mask).
    pub fn bounds(&self) -> (u16, u16) {
        match *self {
            PortMatch::Masked(m) => (m.value, m.value | !m.mask),
            PortMatch::Range { lo, hi } => (lo, hi),
        }
    }
}

/// The keys of one rule; `None` is a wildcard. Plain keys test the plain headers (inner on a
/// tunnelled frame), `enc_*` keys the outer headers of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Keys {
    /// MACs as u64 in their low 48 bits, first octet most significant.
    pub src_mac: Option<Masked<u64>>,
    /// Destination MAC, as `src_mac`.
    pub dst_mac: Option<Masked<u64>>,
    /// 12 bits.
    pub vlan_id: Option<u16>,
    /// 3 bits (PCP).
    pub vlan_prio: Option<u8>,
    /// IPv4 protocol / IPv6 upper-layer next header.
    pub ip_proto: Option<u8>,
    /// Source address prefix.
    pub src_ip: Option<Prefix>,
    /// Destination address prefix.
    pub dst_ip: Option<Prefix>,
    /// TCP, UDP or SCTP source port.
    pub src_port: Option<PortMatch>,
    /// TCP, UDP or SCTP destination port.
    pub dst_port: Option<PortMatch>,
    /// IPv4 TOS byte / IPv6 traffic class.
    pub ip_tos: Option<Masked<u8>>,
    /// IPv4 TTL / IPv6 hop limit.
    pub ip_ttl: Option<Masked<u8>>,
    /// 12 bits, as [`PacketKey::tcp_flags`].
    pub tcp_flags: Option<Masked<u16>>,
    /// Bits [`crate::key::IP_FLAG_FRAG`] and [`crate::key::IP_FLAG_FIRSTFRAG`].
    pub ip_flags: Option<Masked<u8>>,
    /// The tunnel's VNI (VXLAN, Geneve) or GRE key.
    pub enc_key_id: Option<u32>,
    /// Outer source address prefix.
    pub enc_src_ip: Option<Prefix>,
    /// Outer destination address prefix.
    pub enc_dst_ip: Option<Prefix>,
    /// Outer UDP destination port.
    pub enc_dst_port: Option<u16>,
}

/// What a matching rule does with the frame.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Drop it (tc: `drop`, `shot`).
    Drop,
    /// Let it continue as if no rule had matched the frame's disposition: forward it the way
    /// `dataplane run --action` says (in tc: `pass`/`ok`).
    Pass,
    /// Send it out of the dataplane port with this number.
    Fwd(u16),
    /// tc's `mirred egress redirect dev NAME`: send it out of the port whose interface is
    /// NAME (resolved when the rules are loaded; a name that is no port is an error then).
    Redirect(String),
    /// Back out of the port it came in on, MACs swapped.
    Reflect,
    /// Push a tunnel header. The text is the dataplane's rewrite spec after `encap:`
    /// (`vxlan,src=IP,dst=IP,vni=N,...`); the dataplane validates it when it loads the rules.
    Encap(String),
    /// Strip the outer headers of a tunnelled frame.
    Decap,
    /// Decrement the IP TTL / hop limit (checksum updated).
    TtlDec,
}

/// One rule as written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// 1-based line in the source file.
    pub line: usize,
    /// 1-based column of the `action` word (errors about the action point here).
    pub action_col: usize,
    /// Lower is earlier. A rule without `prio` takes the prio of the rule before it (1 for
    /// the first), so a file without any `prio` is matched in file order.
    pub prio: u32,
    /// Which L3 the plain headers must carry.
    pub protocol: Protocol,
    /// What it tests.
    pub keys: Keys,
    /// What it does.
    pub action: Action,
}

impl Rule {
    /// The meaning of a rule, which every classifier and emitter must reproduce.
    #[inline]
    pub fn matches(&self, key: &PacketKey) -> bool {
        let k = &self.keys;
        let protocol_ok = match self.protocol {
            Protocol::All => true,
            Protocol::Ipv4 => key.family == Family::V4,
            Protocol::Ipv6 => key.family == Family::V6,
            Protocol::Vlan => key.has_vlan,
        };
        protocol_ok
            && opt(k.src_mac, |m| key.has_l2 && m.matches(mac_u64(key.src_mac)))
            && opt(k.dst_mac, |m| key.has_l2 && m.matches(mac_u64(key.dst_mac)))
            && opt(k.vlan_id, |id| key.has_vlan && key.vlan_id == id)
            && opt(k.vlan_prio, |prio| key.has_vlan && key.vlan_prio == prio)
            && opt(k.ip_proto, |proto| key.family != Family::None && key.ip_proto == proto)
            && opt(k.src_ip, |p| p.contains(key.family, key.src_ip))
            && opt(k.dst_ip, |p| p.contains(key.family, key.dst_ip))
            && opt(k.src_port, |p| key.has_ports && p.matches(key.src_port))
            && opt(k.dst_port, |p| key.has_ports && p.matches(key.dst_port))
            && opt(k.ip_tos, |m| key.family != Family::None && m.matches(key.ip_tos))
            && opt(k.ip_ttl, |m| key.family != Family::None && m.matches(key.ip_ttl))
            && opt(k.tcp_flags, |m| key.has_tcp_flags && m.matches(key.tcp_flags))
            && opt(k.ip_flags, |m| key.family != Family::None && m.matches(key.ip_flags))
            && opt(k.enc_key_id, |id| key.tunnel && key.has_enc_key_id && key.enc_key_id == id)
            && opt(k.enc_src_ip, |p| key.tunnel && p.contains(key.enc_family, key.enc_src_ip))
            && opt(k.enc_dst_ip, |p| key.tunnel && p.contains(key.enc_family, key.enc_dst_ip))
            && opt(k.enc_dst_port, |port| key.tunnel && key.has_enc_dst_port && key.enc_dst_port == port)
    }
}

#[inline]
fn opt<T: Copy>(want: Option<T>, test: impl FnOnce(T) -> bool) -> bool {
    want.is_none_or(test)
}

/// A MAC as the u64 [`Keys::src_mac`] uses.
#[inline]
pub fn mac_u64(mac: [u8; 6]) -> u64 {
    let [a, b, c, d, e, f] = mac;
    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

/// The rules of one file. `rules[i]` is the i-th rule of the file (0-based; comments and blank
/// lines do not count), the index `rules classify` reports; `order` is the matching order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSet {
    /// In file order; index = the rule's ordinal in the file (what `classify` reports).
    pub rules: Vec<Rule>,
    /// Rule indices in matching order (lowest prio first, then file order).
    pub order: Vec<usize>,
}

impl RuleSet {
    /// Builds the matching order.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let mut order: Vec<usize> = (0..rules.len()).collect();
        order.sort_by_key(|&i| rules[i].prio); // stable: file order breaks ties
        RuleSet { rules, order }
    }

    /// Rules in the set.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}
