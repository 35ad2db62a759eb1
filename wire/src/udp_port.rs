//! Well-known UDP destination ports of the UDP tunnels.

/// VXLAN, RFC 7348 §5.
pub const VXLAN: u16 = 4789;
/// Geneve, RFC 8926 §3.3.
pub const GENEVE: u16 = 6081;
