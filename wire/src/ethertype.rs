//! EtherType values (IEEE 802 numbers as registered with IANA).

/// IPv4 (RFC 894).
pub const IPV4: u16 = 0x0800;
/// ARP (RFC 826).
pub const ARP: u16 = 0x0806;
/// RARP (RFC 903): ARP's header, other opcodes.
pub const RARP: u16 = 0x8035;
/// MPLS unicast (RFC 3032 §5).
pub const MPLS_UNICAST: u16 = 0x8847;
/// MPLS multicast (RFC 5332 §4).
pub const MPLS_MULTICAST: u16 = 0x8848;
/// Connectivity Fault Management (IEEE 802.1Q clause 21, formerly 802.1ag; ITU-T Y.1731).
pub const CFM: u16 = 0x8902;
/// PPPoE session stage (RFC 2516 §5): a PPPoE header, then a PPP frame.
pub const PPPOE_SESSION: u16 = 0x8864;
/// IEEE 802.1Q customer tag.
pub const VLAN: u16 = 0x8100;
/// IEEE 802.1ad service tag (QinQ).
pub const QINQ: u16 = 0x88a8;
/// The pre-standard service tag some switches still send.
pub const QINQ_LEGACY: u16 = 0x9100;
/// IPv6 (RFC 2464).
pub const IPV6: u16 = 0x86dd;
/// Transparent Ethernet Bridging: an Ethernet frame follows (GRE, RFC 1701; Geneve, RFC 8926 §3.4).
pub const TRANSPARENT_ETHERNET: u16 = 0x6558;
