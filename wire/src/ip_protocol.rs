//! IP protocol / IPv6 next header numbers (IANA "Assigned Internet Protocol Numbers").

/// IPv6 Hop-by-Hop Options (RFC 8200 §4.3).
pub const HOP_BY_HOP: u8 = 0;
/// ICMP for IPv4 (RFC 792).
pub const ICMP: u8 = 1;
/// IPv4 inside IP (RFC 2003).
pub const IPV4: u8 = 4;
/// TCP (RFC 9293).
pub const TCP: u8 = 6;
/// UDP (RFC 768).
pub const UDP: u8 = 17;
/// IPv6 inside IP (RFC 4213 §3.5, RFC 2473).
pub const IPV6: u8 = 41;
/// IPv6 Routing header (RFC 8200 §4.4).
pub const ROUTING: u8 = 43;
/// IPv6 Fragment header (RFC 8200 §4.5).
pub const FRAGMENT: u8 = 44;
/// GRE (RFC 2784).
pub const GRE: u8 = 47;
/// ICMPv6 (RFC 4443).
pub const ICMPV6: u8 = 58;
/// No next header (RFC 8200 §4.7).
pub const NO_NEXT_HEADER: u8 = 59;
/// IPv6 Destination Options (RFC 8200 §4.6).
pub const DESTINATION_OPTIONS: u8 = 60;
/// An Ethernet frame follows (RFC 8986 §10.1: SRv6 End.DX2 / L2 VPN payloads).
pub const ETHERNET: u8 = 143;
