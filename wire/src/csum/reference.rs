//! The plain Internet checksum, word by word, as RFC 1071 §4.1 writes it in C. It is the
//! yardstick: tests compare the fast path against it and the benchmark reports the ratio.

/// The folded one's-complement sum of `bytes` read as big-endian 16-bit words, an odd last
/// byte padded with zero (RFC 1071 §4.1). Not the checksum: that is the complement.
pub fn sum16(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
        // End-around carry after every add, so the sum never leaves 17 bits.
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The pseudo-header sum of the L4 header at `l4_offset` under the IP header `l3`, by
/// [`sum16`] over the pseudo-header's bytes as RFC 768 / RFC 793 §3.1 (IPv4) and RFC 8200
/// §8.1 (IPv6) lay them out: folded, not inverted (what a checksum-offloading device finds
/// in the field).
pub fn pseudo_header_sum(frame: &[u8], l3: &crate::L3Info, l4_offset: usize) -> u16 {
    let len = l3.end - l4_offset;
    let mut bytes = Vec::new();
    match l3.kind {
        crate::L3Kind::Ipv4 => {
            bytes.extend_from_slice(&frame[l3.offset + 12..l3.offset + 20]);
            bytes.extend_from_slice(&[0, l3.protocol]);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        crate::L3Kind::Ipv6 => {
            bytes.extend_from_slice(&frame[l3.offset + 8..l3.offset + 24]);
            bytes.extend_from_slice(&frame[l3.dst_offset..l3.dst_offset + 16]);
            bytes.extend_from_slice(&(len as u32).to_be_bytes());
            bytes.extend_from_slice(&[0, 0, 0, l3.protocol]);
        }
    }
    sum16(&bytes)
}
