//! One rule: what it tests ([`Keys`]) and what it does ([`Action`]), and its meaning,
//! [`Rule::matches`], which every classifier and emitter must agree with.

use crate::key::{Family, PacketKey, MPLS_LSE_DEPTH_MAX};

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
    /// Any other ethertype (`arp`, `mpls_uc`, `0x88cc`, ... as lib/ll_proto.c names them):
    /// the plain headers' ethertype after their VLAN tags ([`PacketKey::ethertype`]). Never
    /// one of the ethertypes above (the parser gives those their own variant).
    Ether(u16),
}

/// The ethertypes of ARP and RARP (RFC 826, RFC 903): flower's `arp_*` keys need one.
pub const ETHERTYPE_ARP: [u16; 2] = [0x0806, 0x8035];
/// The ethertypes of MPLS unicast and multicast (RFC 3032 §5): flower's `mpls_*` keys need one.
pub const ETHERTYPE_MPLS: [u16; 2] = [0x8847, 0x8848];
/// The ethertype of PPPoE sessions (RFC 2516 §5): flower's `pppoe_sid` and `ppp_proto` need it.
pub const ETHERTYPE_PPPOE: u16 = 0x8864;
/// The ethertype of CFM (IEEE 802.1Q §21.4): flower's `cfm` key needs it.
pub const ETHERTYPE_CFM: u16 = 0x8902;

impl Protocol {
    /// The ethertype a non-IP, non-VLAN protocol names (`Ether`), else `None`.
    pub const fn ether(self) -> Option<u16> {
        match self {
            Protocol::Ether(id) => Some(id),
            _ => None,
        }
    }
}

/// The longest interface name (IFNAMSIZ - 1, include/uapi/linux/if.h).
pub const IFNAME_MAX: usize = 15;

/// flower's `indev NAME`: the interface a frame must have arrived on, and the dataplane port
/// that is (resolved when the rules are loaded: [`Indev::UNRESOLVED`] until then, which no
/// frame's port is).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Indev {
    name: [u8; IFNAME_MAX],
    len: u8,
    /// The port whose interface is the name, once resolved.
    pub port: u16,
}

impl Indev {
    /// The port of a name not (yet) resolved: matches no frame.
    pub const UNRESOLVED: u16 = u16::MAX;

    /// `name` as tc's `check_ifname` accepts it (lib/utils.c: 1..=15 bytes, no `/`, no
    /// white space, not `.` or `..`), unresolved; `None` otherwise.
    pub fn new(name: &str) -> Option<Indev> {
        let ok = !name.is_empty()
            && name.len() <= IFNAME_MAX
            && name != "."
            && name != ".."
            && !name.bytes().any(|b| b == b'/' || b.is_ascii_whitespace());
        if !ok {
            return None;
        }
        let mut bytes = [0u8; IFNAME_MAX];
        bytes[..name.len()].copy_from_slice(name.as_bytes());
        Some(Indev { name: bytes, len: name.len() as u8, port: Indev::UNRESOLVED })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..usize::from(self.len)]).unwrap_or("")
    }
}

impl std::fmt::Debug for Indev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indev({:?}, port {})", self.name(), self.port)
    }
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

/// One label stack entry of flower's `mpls lse depth N [label L] [tc T] [bos B] [ttl T]`
/// (RFC 3032 §2.1): where `used`, the stack has an entry at that depth, with the fields given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MplsLse {
    /// The rule names this depth.
    pub used: bool,
    /// The label (20 bits).
    pub label: Option<u32>,
    /// The traffic class (3 bits).
    pub tc: Option<u8>,
    /// The bottom-of-stack bit.
    pub bos: Option<u8>,
    /// The TTL.
    pub ttl: Option<u8>,
}

impl MplsLse {
    /// Whether the entry `lse` (label, TC, S, TTL from the top bit down) has the fields given.
    #[inline]
    pub fn matches(&self, lse: u32) -> bool {
        let field = |shift: u32, bits: u32| (lse >> shift) & ((1 << bits) - 1);
        opt(self.label, |label| field(12, 20) == label)
            && opt(self.tc, |tc| field(9, 3) == u32::from(tc))
            && opt(self.bos, |bos| field(8, 1) == u32::from(bos))
            && opt(self.ttl, |ttl| field(0, 8) == u32::from(ttl))
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
    /// Outer IPv4 TOS / IPv6 traffic class (`enc_tos`).
    pub enc_tos: Option<Masked<u8>>,
    /// Outer IPv4 TTL / IPv6 hop limit (`enc_ttl`).
    pub enc_ttl: Option<Masked<u8>>,
    /// The ethertype after the plain headers' VLAN tags: `vlan_ethtype X` (X not a VLAN
    /// TPID) or `cvlan_ethtype X`.
    pub eth_type: Option<u16>,
    /// `vlan_ethtype 802.1q|802.1ad`: the outer tag carries a second (customer) tag.
    pub cvlan: bool,
    /// The second tag's VLAN id (12 bits).
    pub cvlan_id: Option<u16>,
    /// The second tag's priority (3 bits).
    pub cvlan_prio: Option<u8>,
    /// How many VLAN tags the plain Ethernet header has.
    pub num_of_vlans: Option<u8>,
    /// ARP sender IPv4 prefix.
    pub arp_sip: Option<Prefix>,
    /// ARP target IPv4 prefix.
    pub arp_tip: Option<Prefix>,
    /// ARP opcode (its low byte), under a mask.
    pub arp_op: Option<Masked<u8>>,
    /// ARP sender hardware address, as `src_mac`.
    pub arp_sha: Option<Masked<u64>>,
    /// ARP target hardware address, as `src_mac`.
    pub arp_tha: Option<Masked<u64>>,
    /// The top MPLS label (20 bits).
    pub mpls_label: Option<u32>,
    /// The top MPLS entry's traffic class (3 bits).
    pub mpls_tc: Option<u8>,
    /// The top MPLS entry's bottom-of-stack bit.
    pub mpls_bos: Option<u8>,
    /// The top MPLS entry's TTL.
    pub mpls_ttl: Option<u8>,
    /// flower's `mpls lse depth N ...`: label stack entries by depth (`[0]` is the top).
    pub mpls_lses: Option<[MplsLse; MPLS_LSE_DEPTH_MAX]>,
    /// flower's `cfm mdl N`: the CFM maintenance domain level (3 bits).
    pub cfm_mdl: Option<u8>,
    /// flower's `cfm op N`: the CFM opcode.
    pub cfm_op: Option<u8>,
    /// flower's `pppoe_sid`: the PPPoE session id.
    pub pppoe_sid: Option<u16>,
    /// flower's `ppp_proto`: the PPP protocol of the session's payload.
    pub ppp_proto: Option<u16>,
    /// flower's `l2tpv3_sid`: the L2TPv3-over-IP session id.
    pub l2tpv3_sid: Option<u32>,
    /// ICMP / ICMPv6 type (flower's `type`).
    pub icmp_type: Option<Masked<u8>>,
    /// ICMP / ICMPv6 code (flower's `code`).
    pub icmp_code: Option<Masked<u8>>,
    /// The interface the frame arrived on.
    pub indev: Option<Indev>,
}

/// One action of a rule's list (tc's `action A action B ...`, run in order). Some end the
/// list and decide the frame's fate ([`Action::ends_list`]: drop, pass, fwd, redirect,
/// reflect, continue, goto); the others do something and let the next one run (tc's
/// `pipe`): a list that runs out after them passes the frame, as tc's ingress does with
/// `TC_ACT_PIPE`.
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
    /// tc's `vlan pop|push|modify`: the outermost 802.1Q / 802.1ad tag removed, pushed or
    /// changed.
    Vlan(VlanAction),
    /// tc's `mpls pop|push|modify|dec_ttl`: the top label stack entry removed, pushed or
    /// changed.
    Mpls(MplsAction),
    /// tc's `tunnel_key set|unset`: a VXLAN or Geneve header pushed, or the outer headers
    /// of a tunnelled frame removed (this language's `encap` and `decap`, in tc's words).
    TunnelKey(TunnelKey),
    /// tc's `pedit [ex] munge ...`: header fields rewritten, checksums kept right.
    Pedit(Pedit),
    /// tc's `csum FLAGS` ([`CSUM_WORDS`] bits): a no-op here, since every rewrite keeps the
    /// checksums right already (see the rules language's notes).
    Csum(u8),
    /// tc's `mirred egress mirror dev NAME`: a copy of the frame as it is now leaves by the
    /// port whose interface is NAME; the frame itself goes on to the next action (tc: pipe).
    Mirror(String),
    /// tc's `continue` (`TC_ACT_UNSPEC`): this rule's list ends and matching goes on with the
    /// next rule of the same chain, on the frame as the actions before left it.
    Continue,
    /// tc's `goto chain N`: matching starts again at the first rule of chain N, on the frame
    /// as the actions before left it.
    Goto(u32),
    /// tc's `police`: a token bucket per rule; a frame within the rate gets `conform`, one
    /// beyond it `exceed`.
    Police(Police),
    /// tc's `jump N` (a gact control): the list runs again from its action N ([`Control::Jump`]).
    Jump(u32),
    /// tc's `mirred egress mirror|redirect blockid N` (act_mirred's blockcast): to every port
    /// of block N but the one the frame arrived on. Rules here apply to every port (a shared
    /// block's filters to each of its devices), so the block is every port of the run. A
    /// mirror sends copies and goes on; a redirect sends copies to all but the last port,
    /// which gets the frame, and ends the list (no other port: the frame is dropped).
    Blockcast {
        /// The block (1..=2^32-1).
        block: u32,
        /// `redirect` (the frame goes too) rather than `mirror`.
        redirect: bool,
    },
    /// tc's `gate`: an IEEE 802.1Qci stream gate on a time schedule; a frame passes an open
    /// gate (within its octet budget) to the next action, a closed one drops it.
    Gate(Gate),
}

impl Action {
    /// `mirror`, blockcast, `continue`, `goto` and `police`: the actions only the
    /// dataplane's chain interpreter carries out.
    pub fn is_chain_action(&self) -> bool {
        matches!(
            self,
            Action::Mirror(_)
                | Action::Blockcast { .. }
                | Action::Continue
                | Action::Goto(_)
                | Action::Jump(_)
                | Action::Police(_)
        )
    }

    /// Whether this action ends the rule's list (anything after it would never run).
    pub fn ends_list(&self) -> bool {
        match self {
            Action::Drop
            | Action::Pass
            | Action::Fwd(_)
            | Action::Redirect(_)
            | Action::Reflect
            | Action::Blockcast { redirect: true, .. }
            | Action::Continue
            | Action::Goto(_)
            | Action::Jump(_) => true,
            Action::Encap(_)
            | Action::Decap
            | Action::TtlDec
            | Action::Vlan(_)
            | Action::Mpls(_)
            | Action::TunnelKey(_)
            | Action::Pedit(_)
            | Action::Csum(_)
            | Action::Blockcast { redirect: false, .. }
            | Action::Mirror(_) => false,
            // A closed gate drops; an open one ends the list where its control word does.
            Action::Gate(gate) => gate.control != Control::Pipe,
            // Ends the list only where both verdicts do.
            Action::Police(police) => {
                let ends = |c: Control| !matches!(c, Control::Pipe | Control::Jump(_));
                ends(police.conform) && ends(police.exceed)
            }
        }
    }
}

/// tc's `vlan` action (tc/m_vlan.c), carried out as the kernel's net/sched/act_vlan.c does:
/// on the outermost tag (IEEE 802.1Q §9.6: TPID, then the TCI of PCP 3 bits, DEI 1, VID 12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VlanAction {
    /// `pop`: the outermost tag removed; a frame without one goes on unchanged.
    Pop,
    /// `push`: a new outermost tag (in front of any the frame has).
    Push {
        /// `protocol`: 0x8100 (802.1Q, tc's default) or 0x88a8 (802.1ad).
        tpid: u16,
        /// `id`: 0..=4094.
        vid: u16,
        /// `priority` (PCP): 0..=7, 0 unless given.
        prio: u8,
    },
    /// `modify`: the outermost tag's VID replaced (and its PCP, when a priority is given; the
    /// DEI bit is kept) and its TPID set to `tpid`; a frame without a tag goes on unchanged.
    Modify {
        /// `protocol`, as for push (act_vlan sets it on modify too, 802.1Q unless given).
        tpid: u16,
        /// `id`: 0..=4094.
        vid: u16,
        /// `priority`, when given.
        prio: Option<u8>,
    },
}

/// tc's `mpls` action (tc/m_mpls.c), carried out as the kernel's net/sched/act_mpls.c does
/// (with net/core/skbuff.c's `skb_mpls_*`): on the top label stack entry, which follows the
/// Ethernet header and its VLAN tags (RFC 3032 §2.1: label 20 bits, TC 3, S 1, TTL 8). A
/// frame "is MPLS" when the ethertype after its tags is 0x8847 or 0x8848.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MplsAction {
    /// `pop protocol P`: the top entry removed and the ethertype in front of it set to `proto`
    /// (`skb_mpls_pop` writes it whether or not the entry was the bottom of the stack: write
    /// `mpls_uc` for an inner pop). A frame that is not MPLS goes on unchanged.
    Pop {
        /// The ethertype of what follows (0x0600 or more, as act_mpls requires).
        proto: u16,
    },
    /// `push`: a new top entry after the Ethernet header and its tags; the ethertype becomes
    /// `proto`.
    Push {
        /// 0x8847 (`mpls_uc`, tc's default) or 0x8848 (`mpls_mc`).
        proto: u16,
        /// 20 bits, not 3 (implicit null, which act_mpls refuses).
        label: u32,
        /// 0 unless given.
        tc: u8,
        /// 1..=255; 255 unless given (act_mpls's `ACT_MPLS_TTL_DEFAULT`, not the IP TTL).
        ttl: u8,
        /// When given; else 1 where the frame was not MPLS before, 0 where it was (act_mpls).
        bos: Option<u8>,
    },
    /// `modify`: the given fields of the top entry replaced. A frame that is not MPLS is
    /// dropped, as act_mpls drops it (`skb_mpls_update_lse` fails).
    Modify {
        /// `label`, as for push.
        label: Option<u32>,
        /// `tc`.
        tc: Option<u8>,
        /// `ttl` (1..=255).
        ttl: Option<u8>,
        /// `bos`.
        bos: Option<u8>,
    },
    /// `dec_ttl`: the top entry's TTL minus one; a TTL that reaches 0 (or was 0) drops the
    /// frame, as does a frame that is not MPLS (act_mpls: `TC_ACT_SHOT`).
    DecTtl,
}

/// The implicit null label (RFC 3032 §2.1): never on the wire, and act_mpls refuses it.
pub const MPLS_LABEL_IMPLICIT_NULL: u32 = 3;

/// tc's `pedit` action (tc/m_pedit.c with its header modules p_eth.c, p_ip.c, p_ip6.c,
/// p_tcp.c, p_udp.c), on the outermost headers as net/sched/act_pedit.c finds them. Unlike
/// tc, the checksums the fields are under are updated (RFC 1624 eqn. 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pedit {
    /// `ex`: tc's extended (header-typed) keys; without it only `ip` fields and `set`.
    pub extended: bool,
    /// The `munge` clauses, in order.
    pub munges: Vec<Munge>,
}

/// One `munge HEADER FIELD CMD [VALUE] [retain MASK]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Munge {
    /// What it changes.
    pub field: PeditField,
    /// How.
    pub cmd: PeditCmd,
    /// `set`/`add`'s value, the field's bytes as a big-endian number (0 for `invert`).
    pub value: u128,
    /// `retain MASK`: the bits of the field that change (all unless given; a field of up to
    /// 32 bits).
    pub retain: u32,
}

/// What a munge does to the field's bits that `retain` lets change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeditCmd {
    /// `set V` (`clear`: V = 0; `preserve`: nothing retained).
    Set,
    /// `add V`, wrapping in the field's width (`decrement`: add all ones).
    Add,
    /// `invert`: the bits flipped.
    Invert,
}

/// The fields a munge may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeditField {
    /// `eth dst`.
    EthDst,
    /// `eth src`.
    EthSrc,
    /// `ip src`.
    IpSrc,
    /// `ip dst`.
    IpDst,
    /// `ip tos` (also `dsfield`, `precedence`: the same byte to tc).
    IpTos,
    /// `ip ttl`.
    IpTtl,
    /// Non-extended `ip sport`: tc's 16 bits at the IPv4 header + 20, which are the TCP or
    /// UDP source port only without IP options (carried out only then).
    IpSport,
    /// Non-extended `ip dport`, as `IpSport` at + 22.
    IpDport,
    /// `ip6 src`.
    Ip6Src,
    /// `ip6 dst`.
    Ip6Dst,
    /// `ip6 hoplimit`.
    Ip6HopLimit,
    /// `tcp sport`.
    TcpSport,
    /// `tcp dport`.
    TcpDport,
    /// `tcp flags`.
    TcpFlags,
    /// `udp sport`.
    UdpSport,
    /// `udp dport`.
    UdpDport,
}

/// The header a pedit field is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeditHeader {
    /// Ethernet.
    Eth,
    /// IPv4.
    Ip4,
    /// IPv6.
    Ip6,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// TCP or UDP right after an IPv4 header without options (non-extended `ip sport|dport`).
    Ip4Ports,
}

impl PeditField {
    /// Every field.
    pub const ALL: [PeditField; 16] = [
        PeditField::EthDst,
        PeditField::EthSrc,
        PeditField::IpSrc,
        PeditField::IpDst,
        PeditField::IpTos,
        PeditField::IpTtl,
        PeditField::IpSport,
        PeditField::IpDport,
        PeditField::Ip6Src,
        PeditField::Ip6Dst,
        PeditField::Ip6HopLimit,
        PeditField::TcpSport,
        PeditField::TcpDport,
        PeditField::TcpFlags,
        PeditField::UdpSport,
        PeditField::UdpDport,
    ];

    /// Its header, offset in it and width in bytes (tc's p_*.c offsets; `Ip4Ports` fields
    /// from the transport header).
    pub const fn place(self) -> (PeditHeader, usize, usize) {
        use PeditHeader::*;
        match self {
            PeditField::EthDst => (Eth, 0, 6),
            PeditField::EthSrc => (Eth, 6, 6),
            PeditField::IpSrc => (Ip4, 12, 4),
            PeditField::IpDst => (Ip4, 16, 4),
            PeditField::IpTos => (Ip4, 1, 1),
            PeditField::IpTtl => (Ip4, 8, 1),
            PeditField::IpSport => (Ip4Ports, 0, 2),
            PeditField::IpDport => (Ip4Ports, 2, 2),
            PeditField::Ip6Src => (Ip6, 8, 16),
            PeditField::Ip6Dst => (Ip6, 24, 16),
            PeditField::Ip6HopLimit => (Ip6, 7, 1),
            PeditField::TcpSport => (Tcp, 0, 2),
            PeditField::TcpDport => (Tcp, 2, 2),
            PeditField::TcpFlags => (Tcp, 13, 1),
            PeditField::UdpSport => (Udp, 0, 2),
            PeditField::UdpDport => (Udp, 2, 2),
        }
    }

    /// tc's words for it: header and field.
    pub const fn words(self) -> (&'static str, &'static str) {
        match self {
            PeditField::EthDst => ("eth", "dst"),
            PeditField::EthSrc => ("eth", "src"),
            PeditField::IpSrc => ("ip", "src"),
            PeditField::IpDst => ("ip", "dst"),
            PeditField::IpTos => ("ip", "tos"),
            PeditField::IpTtl => ("ip", "ttl"),
            PeditField::IpSport => ("ip", "sport"),
            PeditField::IpDport => ("ip", "dport"),
            PeditField::Ip6Src => ("ip6", "src"),
            PeditField::Ip6Dst => ("ip6", "dst"),
            PeditField::Ip6HopLimit => ("ip6", "hoplimit"),
            PeditField::TcpSport => ("tcp", "sport"),
            PeditField::TcpDport => ("tcp", "dport"),
            PeditField::TcpFlags => ("tcp", "flags"),
            PeditField::UdpSport => ("udp", "sport"),
            PeditField::UdpDport => ("udp", "dport"),
        }
    }

    /// The width in bytes.
    pub const fn width(self) -> usize {
        self.place().2
    }

    /// All of the field's bits, as `retain` holds them (all ones past 32 bits).
    pub const fn full_retain(self) -> u32 {
        match self.width() {
            1 => 0xff,
            2 => 0xffff,
            _ => u32::MAX,
        }
    }
}

/// tc's `csum` words (tc/m_csum.c, in its order) and their TCA_CSUM_UPDATE_FLAG_* bits; the
/// first of each bit is the one printed.
pub const CSUM_WORDS: [(&str, u8); 9] = [
    ("iph", 1),
    ("ip4h", 1),
    ("ipv4h", 1),
    ("icmp", 2),
    ("igmp", 4),
    ("tcp", 8),
    ("udp", 16),
    ("udplite", 32),
    ("sctp", 64),
];

/// The TPIDs a vlan action may write (act_vlan.c refuses others with EPROTONOSUPPORT).
pub const VLAN_TPIDS: [u16; 2] = [0x8100, 0x88a8];

/// tc's `tunnel_key` action (tc/m_tunnel_key.c). In the kernel (net/sched/act_tunnel_key.c)
/// `set` only attaches tunnel metadata that the vxlan or geneve device the frame is then
/// redirected to turns into headers, and `unset` drops the metadata of a frame that device
/// already decapsulated. Here frames arrive and leave encapsulated, so the action itself
/// pushes (`set`) or strips (`unset`) the outer headers: the same bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelKey {
    /// `unset`: the outer headers of a VXLAN, Geneve, GRE or IP-in-IP frame removed (as
    /// `decap`; a frame with no tunnel is dropped as not applicable).
    Unset,
    /// `set`: Ethernet / IP / UDP / VXLAN (RFC 7348) or Geneve (RFC 8926) pushed.
    Set(TunnelSet),
}

/// The outer headers of `tunnel_key set`, as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelSet {
    /// `src_ip`: outer source, IPv4 or IPv6.
    pub src_ip: std::net::IpAddr,
    /// `dst_ip`: outer destination, of the same family.
    pub dst_ip: std::net::IpAddr,
    /// `id`: the VNI (24 bits); 0 unless given, as the tunnel devices send it.
    pub id: Option<u32>,
    /// `dst_port`: the UDP destination port; 6081 means Geneve, any other VXLAN; absent or 0
    /// is 4789, as a vxlan device's default (RFC 7348 §5).
    pub dst_port: Option<u16>,
    /// `tos`: the outer TOS / traffic class byte (0 unless given).
    pub tos: Option<u8>,
    /// `ttl`: the outer TTL / hop limit; absent or 0 is the default of 64 (the kernel's
    /// `ip_default_ttl`).
    pub ttl: Option<u8>,
    /// `csum` (tc's default) or `nocsum`: whether the outer UDP checksum is computed or left
    /// 0 (allowed over IPv4 only, RFC 768, RFC 7348 §5).
    pub csum: bool,
}

/// The UDP port that makes `tunnel_key set` a Geneve tunnel (RFC 8926 §3.3).
pub const GENEVE_PORT: u16 = 6081;
/// VXLAN's UDP port (RFC 7348 §5), a vxlan device's default.
pub const VXLAN_PORT: u16 = 4789;

impl TunnelSet {
    /// Geneve where the destination port is Geneve's, else VXLAN.
    pub fn is_geneve(&self) -> bool {
        self.dst_port == Some(GENEVE_PORT)
    }

    /// The UDP destination port the frame goes out with.
    pub fn udp_port(&self) -> u16 {
        self.dst_port.filter(|&port| port != 0).unwrap_or(VXLAN_PORT)
    }
}

/// What happens after an action that lets the frame go on or not: tc's control words
/// (`action_a2n` in iproute2's tc/tc_util.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Control {
    /// `pipe`: the next action of the list runs.
    Pipe,
    /// `drop` / `shot`.
    Drop,
    /// `pass` / `ok`: the list ends, the frame goes on as `dataplane run --action` says.
    Pass,
    /// `continue`: matching goes on with the next rule of the chain.
    Continue,
    /// `goto chain N`.
    Goto(u32),
    /// `jump N`: the list runs again from its action N (act_api.c `tcf_action_exec`: the
    /// first N actions skipped). N is the position in the rule's action list here (the
    /// parser converts tc's count of actions); 0 or past the end passes the frame, as the
    /// kernel's "faulty opcode" does.
    Jump(u32),
}

impl Control {
    /// The action a control word stands for at the end of a list (`None` for `pipe`).
    pub fn as_action(self) -> Option<Action> {
        match self {
            Control::Pipe => None,
            Control::Drop => Some(Action::Drop),
            Control::Pass => Some(Action::Pass),
            Control::Continue => Some(Action::Continue),
            Control::Goto(chain) => Some(Action::Goto(chain)),
            Control::Jump(to) => Some(Action::Jump(to)),
        }
    }
}

/// What a policer's bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoliceRate {
    /// `rate R burst B`: bytes per second, and the bucket's depth in bytes.
    Bytes {
        /// Bytes per second (tc's `rate` is given in bits and read as bytes).
        per_second: u64,
        /// The bucket's depth in bytes.
        burst: u64,
    },
    /// `pkts_rate R pkts_burst B`: packets per second, and the depth in packets.
    Packets {
        /// Packets per second.
        per_second: u64,
        /// The bucket's depth in packets.
        burst: u64,
    },
}

/// tc's `police` action (tc/m_police.c; the kernel's net/sched/act_police.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Police {
    /// The bucket (`None` with only `mtu`: a size check, every frame within it conforms).
    pub rate: Option<PoliceRate>,
    /// `mtu BYTES`: a longer frame exceeds whatever the bucket holds.
    pub mtu: Option<u64>,
    /// What a frame beyond the rate gets (`conform-exceed EXCEED/...`).
    pub exceed: Control,
    /// What a frame within the rate gets (`conform-exceed .../CONFORM`; tc's default: `ok`).
    pub conform: Control,
    /// `index N`: one policer shared by every rule naming N (tc's action index). A rule may
    /// name it alone (`police index N`): the file reads it as the rule that defines N has it.
    pub index: Option<u32>,
}

/// The clock a gate's schedule runs on (tc's `clockid`; act_gate accepts these four).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GateClock {
    /// `CLOCK_TAI`, tc's default.
    #[default]
    Tai,
    /// `CLOCK_REALTIME`.
    Realtime,
    /// `CLOCK_BOOTTIME`.
    Boottime,
    /// `CLOCK_MONOTONIC`.
    Monotonic,
}

impl GateClock {
    /// Every clock, with the name tc prints (`get_clock_name` in tc/tc_util.c).
    pub const ALL: [(GateClock, &'static str); 4] = [
        (GateClock::Boottime, "BOOTTIME"),
        (GateClock::Monotonic, "MONOTONIC"),
        (GateClock::Realtime, "REALTIME"),
        (GateClock::Tai, "TAI"),
    ];

    /// tc's name for it (without `CLOCK_`).
    pub fn name(self) -> &'static str {
        GateClock::ALL.iter().find(|(c, _)| *c == self).map_or("TAI", |(_, name)| name)
    }
}

/// One `sched-entry` of a gate (802.1Qci's stream gate control list entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GateEntry {
    /// `open` or `close`.
    pub open: bool,
    /// How long the entry lasts, in ns (1..=u32::MAX, as act_gate keeps it).
    pub interval: u32,
    /// The internal priority value (-1: wildcard). Only hardware offload reads it; act_gate's
    /// software path, like this dataplane, changes no priority for it. -1 on a close entry.
    pub ipv: i32,
    /// How many bytes may pass while the entry is in force (`None`: no limit, tc's -1).
    /// `None` on a close entry.
    pub max_octets: Option<u32>,
}

/// tc's `gate` action (tc/m_gate.c; the kernel's net/sched/act_gate.c): IEEE 802.1Qci
/// per-stream gating. From `base_time` on the clock `clock`, the entries repeat every
/// [`cycle`](Gate::cycle) ns; the entry in force says whether the frame passes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Gate {
    /// `index N`: one gate shared by every rule naming N. A rule may name it alone (`gate
    /// index N`, no entries): the file reads it as the rule that defines N has it.
    pub index: Option<u32>,
    /// `clockid`.
    pub clock: GateClock,
    /// `base-time`, ns on `clock` (0 unless given).
    pub base_time: i64,
    /// `cycle-time` as given, ns (0: the sum of the intervals, act_gate's default).
    pub cycle_time: u64,
    /// `cycle-time-ext`, ns: kept, and as in act_gate's software path without effect (it
    /// only matters to a schedule change, which tc's gate does not make).
    pub cycle_time_ext: u64,
    /// `priority` (-1 unless given): read only by hardware offload.
    pub priority: i32,
    /// `flags` (0 unless given): read only by hardware offload.
    pub flags: u32,
    /// The `sched-entry`s, in order (empty only in a lone `gate index N`).
    pub entries: Vec<GateEntry>,
    /// What a frame the gate lets through gets (tc's control word; `pipe` unless given).
    pub control: Control,
}

impl Gate {
    /// The cycle in ns: `cycle-time`, else the sum of the intervals (act_gate's rule).
    pub fn cycle(&self) -> u64 {
        if self.cycle_time != 0 {
            self.cycle_time
        } else {
            self.entries.iter().map(|e| u64::from(e.interval)).sum()
        }
    }
}

/// Where a rule classifies (tc's `ingress` / `egress` of `tc filter add dev X ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Frames as they arrive (every port: rules here apply to all of them).
    #[default]
    Ingress,
    /// Frames as they leave: the port whose interface is `dev` (every port for `None`, as a
    /// shared block's filters apply to each of its devices), after ingress decided where
    /// they go. Egress rules have chains of their own, as tc's egress block has.
    Egress {
        /// The interface (`dev NAME` on the line); resolved to a port when the dataplane
        /// loads the rules.
        dev: Option<String>,
    },
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
    /// tc's `chain N`: matching starts in chain 0, and reaches another chain only by a
    /// `goto chain N` action.
    pub chain: u32,
    /// Ingress (the default) or egress.
    pub hook: Hook,
    /// Which L3 the plain headers must carry.
    pub protocol: Protocol,
    /// What it tests.
    pub keys: Keys,
    /// What it does, in order: never empty, and only the last action may end the list
    /// ([`Action::ends_list`]).
    pub actions: Vec<Action>,
}

impl Rule {
    /// A rule of chain 0 with one action.
    pub fn new(line: usize, prio: u32, protocol: Protocol, keys: Keys, action: Action) -> Rule {
        Rule { line, action_col: 1, prio, chain: 0, hook: Hook::Ingress, protocol, keys, actions: vec![action] }
    }

    /// The one action of a rule of chain 0 that has only one and it is one of the classic
    /// kind (not `mirror`, `continue`, `goto` or `police`): what the kernel emitters and the
    /// traffic tools understand. `None` for anything else.
    pub fn single_action(&self) -> Option<&Action> {
        match self.actions.as_slice() {
            [action] if self.chain == 0 && !self.is_egress() && !action.is_chain_action() => Some(action),
            _ => None,
        }
    }

    /// Whether the rule classifies frames as they leave.
    pub fn is_egress(&self) -> bool {
        matches!(self.hook, Hook::Egress { .. })
    }

    /// Why [`single_action`](Self::single_action) is `None`, in words for a refusal.
    pub fn not_single_reason(&self) -> String {
        if let Hook::Egress { dev } = &self.hook {
            let of = dev.as_ref().map_or_else(|| "every port".to_string(), |dev| format!("dev {dev}"));
            format!("the rule is an egress filter (of {of}; egress filters are carried out by the dataplane only)")
        } else if self.chain != 0 {
            format!("the rule is in chain {} (chains and goto are carried out by the dataplane only)", self.chain)
        } else if self.actions.len() > 1 {
            format!("the rule has {} actions (action lists are carried out by the dataplane only)", self.actions.len())
        } else {
            let word = self.actions.first().map_or_else(String::new, |a| a.to_string());
            format!("`{word}` is carried out by the dataplane only")
        }
    }

    /// The meaning of a rule, which every classifier and emitter must reproduce.
    #[inline]
    pub fn matches(&self, key: &PacketKey) -> bool {
        let k = &self.keys;
        // A PPPoE session's IP is only for rules that name the session (tc writes IP keys
        // there only after `ppp_proto`); others see the frame as before, without L3.
        if key.has_pppoe && k.tests_ip() && !self.names_pppoe() {
            return false;
        }
        // A PPPoE frame's skb->protocol is PPPoE: `protocol ip` is not it. An ethertype must be
        // both the frame's and the flow dissector's `n_proto`, except that with PPPoE keys
        // flower tests the session instead (cls_flower.c fl_set_key_pppoe).
        let protocol_ok = match self.protocol {
            Protocol::All => true,
            Protocol::Ipv4 => key.family == Family::V4 && !key.has_pppoe,
            Protocol::Ipv6 => key.family == Family::V6 && !key.has_pppoe,
            Protocol::Vlan => key.has_vlan,
            Protocol::Ether(id) => key.ethertype == id && (self.keys.has_pppoe_keys() || key.n_proto() == id),
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
            && self.matches_beyond_classic(key)
    }

    /// The keys beyond the classic set ([`Keys::beyond_classic`]).
    #[inline]
    fn matches_beyond_classic(&self, key: &PacketKey) -> bool {
        let k = &self.keys;
        let mpls = |shift: u32, bits: u32| (key.mpls_lse >> shift) & ((1 << bits) - 1);
        let v4 = |addr: u32| u128::from(addr);
        opt(k.enc_tos, |m| key.tunnel && key.enc_family != Family::None && m.matches(key.enc_tos))
            && opt(k.enc_ttl, |m| key.tunnel && key.enc_family != Family::None && m.matches(key.enc_ttl))
            && opt(k.eth_type, |id| if k.has_pppoe_keys() { key.ethertype == id } else { key.n_proto() == id })
            && (!k.cvlan || key.has_cvlan)
            && opt(k.cvlan_id, |id| key.has_cvlan && key.cvlan_id == id)
            && opt(k.cvlan_prio, |prio| key.has_cvlan && key.cvlan_prio == prio)
            && opt(k.num_of_vlans, |n| key.num_vlans == n)
            && opt(k.arp_sip, |p| key.has_arp && p.contains(Family::V4, v4(key.arp_sip)))
            && opt(k.arp_tip, |p| key.has_arp && p.contains(Family::V4, v4(key.arp_tip)))
            && opt(k.arp_op, |m| key.has_arp && m.matches(key.arp_op))
            && opt(k.arp_sha, |m| key.has_arp && m.matches(mac_u64(key.arp_sha)))
            && opt(k.arp_tha, |m| key.has_arp && m.matches(mac_u64(key.arp_tha)))
            && opt(k.mpls_label, |label| key.has_mpls && mpls(12, 20) == label)
            && opt(k.mpls_tc, |tc| key.has_mpls && mpls(9, 3) == u32::from(tc))
            && opt(k.mpls_bos, |bos| key.has_mpls && mpls(8, 1) == u32::from(bos))
            && opt(k.mpls_ttl, |ttl| key.has_mpls && mpls(0, 8) == u32::from(ttl))
            && opt(k.mpls_lses.as_ref(), |lses| {
                let mut named = lses.iter().enumerate().filter(|(_, lse)| lse.used);
                named.all(|(i, lse)| key.mpls_entry(i + 1).is_some_and(|entry| lse.matches(entry)))
            })
            && opt(k.cfm_mdl, |mdl| key.has_cfm && key.cfm_mdl == mdl)
            && opt(k.cfm_op, |op| key.has_cfm && key.cfm_op == op)
            && opt(k.pppoe_sid, |sid| key.has_pppoe && key.pppoe_sid == sid)
            && opt(k.ppp_proto, |proto| key.has_pppoe && key.ppp_proto == proto)
            && opt(k.l2tpv3_sid, |sid| key.has_l2tpv3 && key.l2tpv3_sid == sid)
            && opt(k.icmp_type, |m| key.has_icmp && m.matches(key.icmp_type))
            && opt(k.icmp_code, |m| key.has_icmp && m.matches(key.icmp_code))
            && opt(k.indev, |dev| key.has_in_port && key.in_port == dev.port)
    }

    /// `protocol ppp_ses` or `vlan_ethtype ppp_ses`.
    #[inline]
    pub fn names_pppoe(&self) -> bool {
        self.protocol == Protocol::Ether(ETHERTYPE_PPPOE) || self.keys.eth_type == Some(ETHERTYPE_PPPOE)
    }

    /// The first key (or `protocol`) of this rule beyond the classic set, by flower's name:
    /// what an emitter without it refuses.
    pub fn beyond_classic_key(&self) -> Option<&'static str> {
        if self.protocol.ether().is_some() {
            return Some("protocol");
        }
        self.keys.beyond_classic_key()
    }
}

impl Keys {
    /// The keys beyond the classic set of flower keys (MACs, one VLAN tag, the IP 5-tuple,
    /// TOS/TTL, TCP and IP flags, `enc_key_id`/`enc_src_ip`/`enc_dst_ip`/`enc_dst_port`) that
    /// this rule tests, one bit each in the order of [`Keys::BEYOND_CLASSIC`]; 0 for none.
    #[inline]
    pub fn beyond_classic(&self) -> u32 {
        let bits = [
            self.enc_tos.is_some(),
            self.enc_ttl.is_some(),
            self.eth_type.is_some(),
            self.cvlan,
            self.cvlan_id.is_some(),
            self.cvlan_prio.is_some(),
            self.num_of_vlans.is_some(),
            self.arp_sip.is_some(),
            self.arp_tip.is_some(),
            self.arp_op.is_some(),
            self.arp_sha.is_some(),
            self.arp_tha.is_some(),
            self.mpls_label.is_some(),
            self.mpls_tc.is_some(),
            self.mpls_bos.is_some(),
            self.mpls_ttl.is_some(),
            self.mpls_lses.is_some(),
            self.cfm_mdl.is_some(),
            self.cfm_op.is_some(),
            self.l2tpv3_sid.is_some(),
            self.pppoe_sid.is_some(),
            self.ppp_proto.is_some(),
            self.icmp_type.is_some(),
            self.icmp_code.is_some(),
            self.indev.is_some(),
        ];
        bits.iter().enumerate().fold(0, |acc, (i, &set)| acc | (u32::from(set) << i))
    }

    /// Flower's names of the keys [`Keys::beyond_classic`] counts, bit 0 first.
    pub const BEYOND_CLASSIC: [&'static str; 25] = [
        "enc_tos",
        "enc_ttl",
        "vlan_ethtype",
        "vlan_ethtype",
        "cvlan_id",
        "cvlan_prio",
        "num_of_vlans",
        "arp_sip",
        "arp_tip",
        "arp_op",
        "arp_sha",
        "arp_tha",
        "mpls_label",
        "mpls_tc",
        "mpls_bos",
        "mpls_ttl",
        "mpls",
        "cfm",
        "cfm",
        "l2tpv3_sid",
        "pppoe_sid",
        "ppp_proto",
        "type",
        "code",
        "indev",
    ];

    /// The rule tests the plain IP header or what follows it.
    #[inline]
    pub fn tests_ip(&self) -> bool {
        let l3 = [self.ip_proto.is_some(), self.src_ip.is_some(), self.dst_ip.is_some(), self.ip_tos.is_some()];
        let more = [self.ip_ttl.is_some(), self.ip_flags.is_some(), self.src_port.is_some(), self.dst_port.is_some()];
        let l4 =
            [self.tcp_flags.is_some(), self.icmp_type.is_some(), self.icmp_code.is_some(), self.l2tpv3_sid.is_some()];
        l3.into_iter().chain(more).chain(l4).any(|set| set)
    }

    /// The rule tests a PPPoE session (`pppoe_sid`, `ppp_proto`).
    #[inline]
    pub fn has_pppoe_keys(&self) -> bool {
        self.pppoe_sid.is_some() || self.ppp_proto.is_some()
    }

    /// The first key [`Keys::beyond_classic`] counts, by flower's name.
    pub fn beyond_classic_key(&self) -> Option<&'static str> {
        let bits = self.beyond_classic();
        (bits != 0).then(|| Keys::BEYOND_CLASSIC[bits.trailing_zeros() as usize])
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
    /// Indices of chain 0's rules in matching order (lowest prio first, then file order):
    /// where matching starts, and all a classifier built over the set looks at.
    pub order: Vec<usize>,
    /// Every chain's rules in matching order, chain 0 first, then by chain number.
    pub chains: Vec<(u32, Vec<usize>)>,
}

impl RuleSet {
    /// Builds the matching order.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        // Egress rules are matched by the egress sets the dataplane makes of them
        // ([`RuleSet::egress_of`]), not here.
        let mut all: Vec<usize> = (0..rules.len()).filter(|&i| !rules[i].is_egress()).collect();
        all.sort_by_key(|&i| (rules[i].chain, rules[i].prio)); // stable: file order breaks ties
        let mut chains: Vec<(u32, Vec<usize>)> = vec![(0, Vec::new())];
        for i in all {
            match chains.iter_mut().find(|(chain, _)| *chain == rules[i].chain) {
                Some((_, order)) => order.push(i),
                None => chains.push((rules[i].chain, vec![i])),
            }
        }
        let order = chains[0].1.clone();
        RuleSet { rules, order, chains }
    }

    /// Whether any rule is an egress filter.
    pub fn has_egress(&self) -> bool {
        self.rules.iter().any(Rule::is_egress)
    }

    /// The egress rules that apply to frames leaving by the interface `dev` (those of `dev`
    /// and those of every port), as a set of their own whose rules are ingress rules (so its
    /// chains and classifiers are built as any set's), each with its index in `self`; `None`
    /// where no egress rule applies to `dev`.
    pub fn egress_of(&self, dev: &str) -> Option<(RuleSet, Vec<usize>)> {
        let applies = |rule: &Rule| match &rule.hook {
            Hook::Egress { dev: None } => true,
            Hook::Egress { dev: Some(name) } => name == dev,
            Hook::Ingress => false,
        };
        let index: Vec<usize> = (0..self.rules.len()).filter(|&i| applies(&self.rules[i])).collect();
        if index.is_empty() {
            return None;
        }
        let rules = index.iter().map(|&i| Rule { hook: Hook::Ingress, ..self.rules[i].clone() }).collect();
        Some((RuleSet::new(rules), index))
    }

    /// The rules of `chain` in matching order (empty for a chain without rules).
    pub fn chain(&self, chain: u32) -> &[usize] {
        self.chains.iter().find(|(id, _)| *id == chain).map_or(&[], |(_, order)| order.as_slice())
    }

    /// Whether every rule is in chain 0 with one classic action, so first match in
    /// [`order`](Self::order) is the whole meaning.
    pub fn is_single_actions(&self) -> bool {
        self.rules.iter().all(|rule| rule.single_action().is_some())
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
