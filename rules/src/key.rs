//! The header fields of one packet that rules can test, extracted once per packet (by the
//! dataplane from the layer walker's offsets, by `rules classify` from a trace line).

/// The address family of an L3 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Family {
    /// No IP header (e.g. ARP), or none where the key looks.
    #[default]
    None,
    /// IPv4 (addresses in the low 32 bits).
    V4,
    /// IPv6.
    V6,
}

/// The deepest MPLS label stack entry a key keeps and flower's `mpls lse depth N` names
/// (the kernel's FLOW_DIS_MPLS_MAX).
pub const MPLS_LSE_DEPTH_MAX: usize = 7;
const _: () = assert!(MPLS_LSE_DEPTH_MAX == 6 + 1, "PacketKey::mpls_deeper holds the entries below the top");

/// Addresses are kept as u128: IPv6 as is, IPv4 in the low 32 bits (the family says which).
///
/// "Plain" fields describe the headers the plain keys match: the inner ones on a tunnelled
/// frame, otherwise the only ones. `enc_*` fields describe the outer headers of a tunnel.
/// A field that the packet does not have is marked absent by its `has_*` flag (or by
/// `Family::None`), and a rule that tests it does not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PacketKey {
    /// The plain headers have an Ethernet header (not so inside IP-in-IP, or GRE carrying IP).
    pub has_l2: bool,
    /// Source MAC of the plain headers' Ethernet header.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// The outermost 802.1Q/802.1ad tag of the plain headers' Ethernet header.
    pub has_vlan: bool,
    /// Its VLAN id (12 bits).
    pub vlan_id: u16,
    /// Its priority (PCP, 3 bits).
    pub vlan_prio: u8,
    /// The second (inner, customer) tag of a QinQ stack: flower's `cvlan_*`.
    pub has_cvlan: bool,
    /// Its VLAN id (12 bits).
    pub cvlan_id: u16,
    /// Its priority (PCP, 3 bits).
    pub cvlan_prio: u8,
    /// VLAN tags on the plain headers' Ethernet header (flower's `num_of_vlans`).
    pub num_vlans: u8,
    /// The ethertype of the plain headers after their VLAN tags (what `protocol` names, as
    /// the kernel's flow dissector keeps `n_proto`); without an Ethernet header, that of the
    /// IP version (0x0800, 0x86dd), else 0.
    pub ethertype: u16,
    /// An Ethernet/IPv4 ARP (or RARP) header (RFC 826) follows: the `arp_*` fields are set.
    pub has_arp: bool,
    /// The low byte of the ARP opcode (1 request, 2 reply), as the flow dissector keeps it.
    pub arp_op: u8,
    /// ARP sender protocol (IPv4) address.
    pub arp_sip: u32,
    /// ARP target protocol (IPv4) address.
    pub arp_tip: u32,
    /// ARP sender hardware address.
    pub arp_sha: [u8; 6],
    /// ARP target hardware address.
    pub arp_tha: [u8; 6],
    /// An MPLS label stack (RFC 3032) follows the Ethernet header: `mpls_lse` is set.
    pub has_mpls: bool,
    /// The top label stack entry: label (20 bits), TC (3), S (1), TTL (8), RFC 3032 §2.1.
    pub mpls_lse: u32,
    /// Label stack entries read (1 to [`MPLS_LSE_DEPTH_MAX`]: up to the bottom of the
    /// stack, as the kernel's flow dissector reads them).
    pub mpls_entries: u8,
    /// The entries below the top one (`mpls_deeper[0]` is depth 2), as `mpls_lse`. (The
    /// length is written out: `MPLS_LSE_DEPTH_MAX - 1` here makes rustc 1.95 fail on struct
    /// updates of keys in closures; the assertion below keeps the two in step.)
    pub mpls_deeper: [u32; 6],
    /// A CFM header (IEEE 802.1Q §21.4.1) follows the Ethernet header: the `cfm_*` fields are set.
    pub has_cfm: bool,
    /// Its maintenance domain level: the top 3 bits of the first byte.
    pub cfm_mdl: u8,
    /// Its opcode (the second byte: 1 CCM, 3 LBM, 47 DMM, ...).
    pub cfm_op: u8,
    /// A PPPoE session header (RFC 2516 §5) follows the Ethernet header (`ethertype` is
    /// 0x8864): the L3 fields are those of the PPP payload.
    pub has_pppoe: bool,
    /// Its session id.
    pub pppoe_sid: u16,
    /// The PPP protocol (RFC 1661 §2; 0x0021 IPv4, 0x0057 IPv6), a compressed one widened.
    pub ppp_proto: u16,
    /// The plain headers' L3.
    pub family: Family,
    /// IPv4 protocol, or the IPv6 upper-layer next header (after extension headers).
    pub ip_proto: u8,
    /// Source address.
    pub src_ip: u128,
    /// The final destination (IPv6 routing header: RFC 8200 §8.1).
    pub dst_ip: u128,
    /// IPv4 TOS byte / IPv6 traffic class.
    pub ip_tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub ip_ttl: u8,
    /// Bit [`IP_FLAG_FRAG`]: the packet is a fragment; bit [`IP_FLAG_FIRSTFRAG`]: it is the
    /// first fragment (offset 0). As flower's `ip_flags frag/firstfrag`.
    pub ip_flags: u8,
    /// UDP, TCP or SCTP with its header present (not in a later fragment).
    pub has_ports: bool,
    /// Source port (with `has_ports`).
    pub src_port: u16,
    /// Destination port (with `has_ports`).
    pub dst_port: u16,
    /// TCP header present.
    pub has_tcp_flags: bool,
    /// The 12 flag bits of the TCP header (RFC 9293 §3.1 + RFC 3168), FIN = 0x001.
    pub tcp_flags: u16,
    /// An L2TPv3-over-IP header (IP protocol 115, RFC 3931 §4.1.1.2) with its session id.
    pub has_l2tpv3: bool,
    /// The session id: the 32 bits after the IP header (0 is a control message).
    pub l2tpv3_sid: u32,
    /// An ICMP or ICMPv6 header (RFC 792, RFC 4443) is present.
    pub has_icmp: bool,
    /// Its type.
    pub icmp_type: u8,
    /// Its code.
    pub icmp_code: u8,
    /// The frame is tunnelled (VXLAN, Geneve, GRE, IP-in-IP); `enc_*` describe the outer side.
    pub tunnel: bool,
    /// VXLAN/Geneve VNI or GRE key, when the tunnel has one.
    pub has_enc_key_id: bool,
    /// The VNI or key (with `has_enc_key_id`).
    pub enc_key_id: u32,
    /// The outer L3.
    pub enc_family: Family,
    /// Outer source address.
    pub enc_src_ip: u128,
    /// Outer destination address.
    pub enc_dst_ip: u128,
    /// Outer IPv4 TOS / IPv6 traffic class.
    pub enc_tos: u8,
    /// Outer IPv4 TTL / IPv6 hop limit.
    pub enc_ttl: u8,
    /// Outer UDP destination port of a UDP tunnel.
    pub has_enc_dst_port: bool,
    /// The port (with `has_enc_dst_port`).
    pub enc_dst_port: u16,
    /// The frame's arrival port is known (the dataplane; not a trace line).
    pub has_in_port: bool,
    /// The dataplane port (0-based, `--port` order) the frame arrived on (`indev`).
    pub in_port: u16,
}

/// [`PacketKey::ip_flags`]: a fragment (more-fragments set or a non-zero offset).
pub const IP_FLAG_FRAG: u8 = 0x1;
/// [`PacketKey::ip_flags`]: the first fragment (offset 0, more-fragments set).
pub const IP_FLAG_FIRSTFRAG: u8 = 0x2;

/// The PPP protocols the kernel's flow dissector goes on into, and the ethertype each
/// becomes (its `n_proto`): IPv4 (RFC 1332), IPv6 (RFC 5072), MPLS (RFC 3032 §4.3).
pub const PPP_ETHERTYPES: [(u16, u16); 4] = [(0x0021, 0x0800), (0x0057, 0x86dd), (0x0281, 0x8847), (0x0283, 0x8848)];

impl PacketKey {
    /// The ethertype the kernel's flow dissector ends on (`n_proto`): inside a PPPoE session,
    /// that of the PPP payload it goes on into (IP, MPLS), else [`PacketKey::ethertype`].
    #[inline]
    pub fn n_proto(&self) -> u16 {
        if !self.has_pppoe {
            return self.ethertype;
        }
        PPP_ETHERTYPES.iter().find(|&&(ppp, _)| ppp == self.ppp_proto).map_or(self.ethertype, |&(_, ether)| ether)
    }

    /// The label stack entry at `depth` (1 is the top), if the stack has one there.
    #[inline]
    pub fn mpls_entry(&self, depth: usize) -> Option<u32> {
        match depth {
            _ if !self.has_mpls || depth == 0 || depth > usize::from(self.mpls_entries) => None,
            1 => Some(self.mpls_lse),
            _ => self.mpls_deeper.get(depth - 2).copied(),
        }
    }

    /// A key for a plain IPv4 5-tuple (ClassBench traces, tests). The ports count as present
    /// whatever the protocol, as a ClassBench trace line gives them.
    pub fn ipv4_5tuple(src: [u8; 4], dst: [u8; 4], proto: u8, src_port: u16, dst_port: u16) -> PacketKey {
        PacketKey {
            family: Family::V4,
            ip_proto: proto,
            src_ip: u128::from(u32::from_be_bytes(src)),
            dst_ip: u128::from(u32::from_be_bytes(dst)),
            ip_ttl: 64,
            ethertype: 0x0800,
            has_ports: true,
            src_port,
            dst_port,
            has_tcp_flags: proto == 6,
            ..PacketKey::default()
        }
    }
}
