//! Internet checksums (RFC 1071). A plain implementation for building frames; the fast path
//! and the verify/fix policies of the pipeline come with the wire work.

/// A running one's-complement sum of 16-bit big-endian words, not yet folded or inverted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(u64);

impl Sum {
    /// Adds `bytes` as big-endian 16-bit words; an odd last byte is padded with zero
    /// (RFC 1071 §4.1). Only the last chunk added may have odd length.
    pub fn add_bytes(mut self, bytes: &[u8]) -> Sum {
        let mut words = bytes.chunks_exact(2);
        for word in &mut words {
            self.0 += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            self.0 += u64::from(*last) << 8;
        }
        self
    }

    pub fn add_u16(self, value: u16) -> Sum {
        Sum(self.0 + u64::from(value))
    }

    /// Folds the carries into 16 bits.
    pub fn fold(self) -> u16 {
        let mut sum = self.0;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// The checksum to put on the wire: the complement of the folded sum.
    pub fn checksum(self) -> u16 {
        !self.fold()
    }
}

/// The IPv4 pseudo-header sum for a transport checksum (RFC 768, RFC 793 §3.1).
pub fn ipv4_pseudo_header(src: [u8; 4], dst: [u8; 4], protocol: u8, length: u16) -> Sum {
    Sum::default().add_bytes(&src).add_bytes(&dst).add_u16(u16::from(protocol)).add_u16(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let sum = Sum::default().add_bytes(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(sum.fold(), 0xddf2);
        assert_eq!(sum.checksum(), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(Sum::default().add_bytes(&[0x12]).fold(), 0x1200);
    }

    #[test]
    fn known_ipv4_header() {
        // A classic example header (checksum field zeroed): the checksum is 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(Sum::default().add_bytes(&header).checksum(), 0xb861);
    }
}
