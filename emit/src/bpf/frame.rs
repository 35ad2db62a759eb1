//! Frames built from a [`PacketKey`]: the bytes whose parse (by the eBPF parser, see
//! [`super::parse`]) gives back that key. For tests and the lab ("a frame that matches
//! rule k"), not for the hot path.

use rules::key::{Family, PacketKey, IP_FLAG_FIRSTFRAG, IP_FLAG_FRAG};

use super::parse::GENEVE_PORT;

/// How to lay the headers out, where the key leaves a choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameShape {
    /// With `key.has_vlan`: two tags (802.1ad outer with the key's TCI, then 802.1Q).
    pub qinq: bool,
    /// IPv4 option words (NOPs), 0..=10.
    pub ipv4_option_words: u8,
    /// IPv6 extension headers before the fragment header (if any).
    pub ipv6_ext: Vec<Ipv6Ext>,
    /// Geneve option words (ignored for VXLAN).
    pub geneve_option_words: u8,
    /// Payload bytes after the L4 header.
    pub payload: usize,
}

/// An IPv6 extension header to put in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Ext {
    /// Hop-by-hop options, `len8` extra 8-octet units of padding.
    HopByHop {
        /// Extra 8-octet units (padding).
        len8: u8,
    },
    /// Destination options, `len8` extra 8-octet units of padding.
    DestOpts {
        /// Extra 8-octet units (padding).
        len8: u8,
    },
    /// A segment routing header (RFC 8754) with segments left 1: the IPv6 header's
    /// destination is an intermediate hop, the key's `dst_ip` is segment list `[0]`.
    Srh,
}

const MAC_OUTER_DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0d];
const MAC_OUTER_SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x05];
const SRH_HOP: u128 = 0xfd00_0000_0000_0000_0000_0000_0000_0099;

/// Builds the frame of `key`. `key.tunnel` gives a VXLAN frame (Geneve when
/// `enc_dst_port` is 6081) whose inner frame carries the plain fields. Frames are padded
/// to 60 bytes.
pub fn build(key: &PacketKey, shape: &FrameShape) -> Vec<u8> {
    let mut frame = if key.tunnel { tunnelled(key, shape) } else { plain(key, shape) };
    if frame.len() < 60 {
        frame.resize(60, 0);
    }
    frame
}

fn tunnelled(key: &PacketKey, shape: &FrameShape) -> Vec<u8> {
    let inner = plain(key, shape);
    let mut tunnel = Vec::new();
    let vni = key.enc_key_id & 0x00ff_ffff;
    if key.has_enc_dst_port && key.enc_dst_port == GENEVE_PORT {
        let words = shape.geneve_option_words.min(63);
        tunnel.push(words); // version 0
        tunnel.push(0);
        tunnel.extend_from_slice(&0x6558u16.to_be_bytes());
        tunnel.extend_from_slice(&(vni << 8).to_be_bytes());
        for _ in 0..words {
            // An option of class 0xffff (experimental), type 0, no data: 4 bytes each.
            tunnel.extend_from_slice(&[0xff, 0xff, 0x00, 0x00]);
        }
    } else {
        tunnel.push(if key.has_enc_key_id { 0x08 } else { 0 });
        tunnel.extend_from_slice(&[0, 0, 0]);
        tunnel.extend_from_slice(&(vni << 8).to_be_bytes());
    }
    tunnel.extend_from_slice(&inner);
    let dst_port = if key.has_enc_dst_port { key.enc_dst_port } else { 4789 };
    let udp = l4_header(17, 49152, dst_port, 0, &tunnel);
    let mut frame = Vec::new();
    frame.extend_from_slice(&MAC_OUTER_DST);
    frame.extend_from_slice(&MAC_OUTER_SRC);
    let outer = PacketKey {
        family: key.enc_family,
        src_ip: key.enc_src_ip,
        dst_ip: key.enc_dst_ip,
        ip_proto: 17,
        ip_ttl: 64,
        ..PacketKey::default()
    };
    ip_and_payload(&mut frame, &outer, &FrameShape::default(), &udp);
    frame
}

fn plain(key: &PacketKey, shape: &FrameShape) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&key.dst_mac);
    frame.extend_from_slice(&key.src_mac);
    if key.has_vlan {
        let tci = (u16::from(key.vlan_prio & 7) << 13) | (key.vlan_id & 0x0fff);
        frame.extend_from_slice(&(if shape.qinq { 0x88a8u16 } else { 0x8100 }).to_be_bytes());
        frame.extend_from_slice(&tci.to_be_bytes());
        if shape.qinq {
            frame.extend_from_slice(&0x8100u16.to_be_bytes());
            frame.extend_from_slice(&0x0123u16.to_be_bytes());
        }
    }
    let l4 = if key.has_ports {
        l4_header(key.ip_proto, key.src_port, key.dst_port, key.tcp_flags, &vec![0xab; shape.payload])
    } else {
        vec![0xcd; 8 + shape.payload]
    };
    match key.family {
        Family::None => {
            frame.extend_from_slice(&0x0806u16.to_be_bytes()); // ARP, not parsed
            frame.extend_from_slice(&[0u8; 28]);
        }
        _ => ip_and_payload(&mut frame, key, shape, &l4),
    }
    frame
}

/// The L4 header (TCP, UDP or SCTP by `proto`) followed by `payload`.
fn l4_header(proto: u8, src_port: u16, dst_port: u16, tcp_flags: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&src_port.to_be_bytes());
    l4.extend_from_slice(&dst_port.to_be_bytes());
    match proto {
        6 => {
            l4.extend_from_slice(&1u32.to_be_bytes()); // sequence
            l4.extend_from_slice(&0u32.to_be_bytes()); // acknowledgment
            l4.extend_from_slice(&((5u16 << 12) | (tcp_flags & 0x0fff)).to_be_bytes());
            l4.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]); // window, checksum, urgent
        }
        17 => {
            l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            l4.extend_from_slice(&[0, 0]); // no checksum (IPv4); IPv6 receivers never see it here
        }
        _ => {
            l4.extend_from_slice(&[0u8; 8]); // SCTP verification tag + checksum
        }
    }
    l4.extend_from_slice(payload);
    l4
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Appends the EtherType, the IP header(s) of `key` and `l4`.
fn ip_and_payload(frame: &mut Vec<u8>, key: &PacketKey, shape: &FrameShape, l4: &[u8]) {
    let later_fragment = key.ip_flags & IP_FLAG_FRAG != 0 && key.ip_flags & IP_FLAG_FIRSTFRAG == 0;
    let first_fragment = key.ip_flags & IP_FLAG_FIRSTFRAG != 0;
    match key.family {
        Family::V4 => {
            frame.extend_from_slice(&0x0800u16.to_be_bytes());
            let words = shape.ipv4_option_words.min(10);
            let header_len = 20 + 4 * usize::from(words);
            let mut header = vec![0u8; header_len];
            header[0] = 0x40 | (5 + words);
            header[1] = key.ip_tos;
            header[2..4].copy_from_slice(&((header_len + l4.len()) as u16).to_be_bytes());
            header[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
            let frag: u16 = if later_fragment {
                0x2000 | 185 // MF, offset 1480 bytes
            } else if first_fragment {
                0x2000
            } else {
                0x4000 // DF
            };
            header[6..8].copy_from_slice(&frag.to_be_bytes());
            header[8] = key.ip_ttl;
            header[9] = key.ip_proto;
            header[12..16].copy_from_slice(&(key.src_ip as u32).to_be_bytes());
            header[16..20].copy_from_slice(&(key.dst_ip as u32).to_be_bytes());
            for option in header.iter_mut().skip(20) {
                *option = 1; // NOP (RFC 791 §3.1)
            }
            let checksum = ipv4_checksum(&header);
            header[10..12].copy_from_slice(&checksum.to_be_bytes());
            frame.extend_from_slice(&header);
        }
        Family::V6 => {
            frame.extend_from_slice(&0x86ddu16.to_be_bytes());
            // Extension headers, each (kind number, bytes); the next-header bytes are
            // filled in when they are chained.
            let mut exts: Vec<(u8, Vec<u8>)> = Vec::new();
            let mut header_dst = key.dst_ip;
            for ext in &shape.ipv6_ext {
                match *ext {
                    Ipv6Ext::HopByHop { len8 } | Ipv6Ext::DestOpts { len8 } => {
                        let number = if matches!(ext, Ipv6Ext::HopByHop { .. }) { 0 } else { 60 };
                        let mut bytes = vec![0u8; 8 * (usize::from(len8) + 1)];
                        bytes[1] = len8;
                        // PadN covering the rest (RFC 8200 §4.2).
                        bytes[2] = 1;
                        bytes[3] = (bytes.len() - 4) as u8;
                        exts.push((number, bytes));
                    }
                    Ipv6Ext::Srh => {
                        // RFC 8754 §2: type 4, segments left 1, last entry 1, segment list
                        // [0] = final destination, [1] = the hop the header is sent to.
                        let mut bytes = vec![0u8; 8 + 32];
                        bytes[1] = 4;
                        bytes[2] = 4;
                        bytes[3] = 1;
                        bytes[4] = 1;
                        bytes[8..24].copy_from_slice(&key.dst_ip.to_be_bytes());
                        bytes[24..40].copy_from_slice(&SRH_HOP.to_be_bytes());
                        header_dst = SRH_HOP;
                        exts.push((43, bytes));
                    }
                }
            }
            if key.ip_flags & IP_FLAG_FRAG != 0 {
                let offset: u16 = if later_fragment { 185 << 3 } else { 0 };
                let mut bytes = vec![0u8; 8];
                bytes[2..4].copy_from_slice(&(offset | 1).to_be_bytes());
                bytes[4..8].copy_from_slice(&0xabcdu32.to_be_bytes());
                exts.push((44, bytes));
            }
            let ext_len: usize = exts.iter().map(|(_, b)| b.len()).sum();
            let first_next = exts.first().map_or(key.ip_proto, |(number, _)| *number);
            let mut header = [0u8; 40];
            let word0 = (6u32 << 28) | (u32::from(key.ip_tos) << 20);
            header[0..4].copy_from_slice(&word0.to_be_bytes());
            header[4..6].copy_from_slice(&((ext_len + l4.len()) as u16).to_be_bytes());
            header[6] = first_next;
            header[7] = key.ip_ttl;
            header[8..24].copy_from_slice(&key.src_ip.to_be_bytes());
            header[24..40].copy_from_slice(&header_dst.to_be_bytes());
            frame.extend_from_slice(&header);
            for i in 0..exts.len() {
                let next = exts.get(i + 1).map_or(key.ip_proto, |(number, _)| *number);
                let (_, bytes) = &mut exts[i];
                bytes[0] = next;
                frame.extend_from_slice(bytes);
            }
        }
        Family::None => return,
    }
    frame.extend_from_slice(l4);
}
