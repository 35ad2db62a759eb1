//! Frame templates for the generator and the in-memory port.

use std::net::Ipv4Addr;

use crate::csum::ipv4_pseudo_header;
use crate::wire::{ethertype, ip_protocol, EthernetRepr, Ipv4Repr, UdpRepr};

pub const ETH_HEADER: usize = 14;
pub const IPV4_HEADER: usize = 20;
pub const UDP_HEADER: usize = 8;
/// The smallest Ethernet frame without FCS.
pub const MIN_FRAME: usize = 60;
/// The largest untagged frame at MTU 1500, without FCS.
pub const MAX_FRAME: usize = 1514;

/// Addresses and ports of an IPv4/UDP frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpTemplate {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    /// Frame length without FCS, `MIN_FRAME..=MAX_FRAME`.
    pub size: usize,
}

impl Default for UdpTemplate {
    fn default() -> Self {
        UdpTemplate {
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0x01, 0x00],
            // RFC 2544 §12 benchmarking addresses: never routed on the Internet.
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            src_port: 1024,
            dst_port: 9,
            size: MIN_FRAME,
        }
    }
}

impl UdpTemplate {
    /// The frame bytes, with a correct IPv4 header checksum and UDP checksum. The payload is
    /// a counting pattern so a corrupted byte shows.
    pub fn build(&self) -> Vec<u8> {
        let size = self.size.clamp(MIN_FRAME, MAX_FRAME);
        let udp_len = size - ETH_HEADER - IPV4_HEADER;
        let mut frame = vec![0u8; size];
        let emitted = EthernetRepr { dst_addr: self.dst_mac, src_addr: self.src_mac, ethertype: ethertype::IPV4 }
            .emit(&mut frame)
            .and_then(|_| {
                Ipv4Repr {
                    src_addr: self.src_ip,
                    dst_addr: self.dst_ip,
                    protocol: ip_protocol::UDP,
                    ttl: 64,
                    tos: 0,
                    ident: 0,
                    dont_fragment: true,
                    more_fragments: false,
                    fragment_offset: 0,
                    payload_len: udp_len,
                }
                .emit(&mut frame[ETH_HEADER..])
            })
            .and_then(|_| {
                UdpRepr { src_port: self.src_port, dst_port: self.dst_port, payload_len: udp_len - UDP_HEADER }
                    .emit(&mut frame[ETH_HEADER + IPV4_HEADER..])
            });
        emitted.expect("a frame of MIN_FRAME..=MAX_FRAME bytes holds the headers");

        let udp = &mut frame[ETH_HEADER + IPV4_HEADER..];
        for (i, byte) in udp[UDP_HEADER..].iter_mut().enumerate() {
            *byte = i as u8;
        }
        let sum = ipv4_pseudo_header(self.src_ip.octets(), self.dst_ip.octets(), ip_protocol::UDP, udp_len as u16)
            .add_bytes(udp);
        // RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
        udp[6..8].copy_from_slice(&sum.checksum().udp_wire().to_be_bytes());
        frame
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("'{text}' is not a MAC address like 02:00:00:00:00:01");
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().ok_or_else(bad)?;
        if part.len() != 2 {
            return Err(bad());
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csum::Sum;

    #[test]
    fn checksums_verify() {
        for size in [60, 61, 64, 128, 1514] {
            let t = UdpTemplate { size, ..Default::default() };
            let frame = t.build();
            assert_eq!(frame.len(), size);
            // A correct header sums to 0xffff including its checksum.
            assert_eq!(Sum::default().add_bytes(&frame[14..34]).fold(), 0xffff);
            let udp = &frame[34..];
            let pseudo = ipv4_pseudo_header(t.src_ip.octets(), t.dst_ip.octets(), 17, udp.len() as u16);
            assert_eq!(pseudo.add_bytes(udp).fold(), 0xffff, "size {size}");
        }
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac("02:00:00:00:01:0a").unwrap(), [2, 0, 0, 0, 1, 10]);
        for bad in ["", "02:00", "02:00:00:00:01:0a:00", "zz:00:00:00:00:00", "2:0:0:0:0:0"] {
            assert!(parse_mac(bad).is_err(), "{bad}");
        }
    }
}
