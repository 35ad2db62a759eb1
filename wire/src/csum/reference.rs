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
