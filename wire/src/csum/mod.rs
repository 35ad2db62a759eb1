//! The Internet checksum (RFC 1071): a running sum, the wire value, pseudo-headers and
//! incremental updates.
//!
//! Two types, as OPTE keeps them: a [`Sum`] is a running, unfolded one's-complement sum that
//! can still grow; a [`Checksum`] is the 16-bit value in (or for) a header field. Converting
//! one into the other is explicit ([`Sum::checksum`], [`Sum::fold`]), so a half-built sum is
//! never written to the wire by accident.
//!
//! ```
//! use wire::csum::{ipv4_pseudo_header, verify, Sum};
//!
//! // An IPv4 header with its checksum field zeroed.
//! let mut header = [
//!     0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
//!     0x00, 0xc7,
//! ];
//! let checksum = Sum::new().add_bytes(&header).checksum();
//! assert_eq!(checksum.get(), 0xb861);
//! header[10..12].copy_from_slice(&checksum.to_be_bytes());
//! assert!(verify(Sum::new().add_bytes(&header)));
//!
//! // A UDP checksum covers a pseudo-header, and may be summed in pieces of any length.
//! let udp = [0x30, 0x39, 0x00, 0x35, 0x00, 0x0b, 0x00, 0x00, b'a', b'b', b'c'];
//! let pseudo = ipv4_pseudo_header([192, 168, 0, 1], [192, 168, 0, 199], 17, udp.len() as u16);
//! let whole = pseudo.add_bytes(&udp);
//! let pieces = pseudo.add_bytes(&udp[..3]).add_bytes(&udp[3..]);
//! assert_eq!(whole.fold(), pieces.fold());
//! ```
//!
//! [`reference::sum16`] is the plain word-by-word loop; the tests hold the fast path to it.

// The one SIMD module of the wire: AVX2 loads need unsafe (each block has its SAFETY comment).
#[allow(unsafe_code)]
pub mod kernel;
pub mod reference;

#[cfg(test)]
mod tests;

use kernel::{add_carry, fold_native, sum_native};

/// A running one's-complement sum of 16-bit big-endian words, not yet folded or inverted.
///
/// A `Sum` is the sum of a byte string: adding a buffer in pieces, of any lengths, gives the
/// same sum as adding it whole. It keeps the parity of the bytes added so far, and a piece
/// that starts at an odd position has its partial sum byte-swapped (RFC 1071 §2(B) byte-order
/// independence, §4.1's note on odd-aligned buffers). [`Sum::add`] concatenates two sums the
/// same way.
///
/// Inside, the sum is kept in native byte order (as Linux keeps its `__wsum`), so the fast
/// path never swaps per word; [`Sum::fold`] swaps once. Equality compares the folded value
/// and the parity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum {
    /// Unfolded, native byte order, summed with end-around carry (so it never overflows).
    acc: u64,
    /// An odd number of bytes has been added: the next byte is the low half of a word.
    odd: bool,
}

impl Sum {
    /// The empty sum.
    pub const fn new() -> Sum {
        Sum { acc: 0, odd: false }
    }

    /// Adds `native`, the native-order sum of a piece `len` bytes long that starts at an even
    /// position of its own.
    #[inline]
    fn add_native(self, native: u64, len: usize) -> Sum {
        // A piece that lands at an odd position has every byte in the other half of its
        // word: its sum is the byte-swapped one (RFC 1071 §2(B)).
        let part = if self.odd { u64::from(fold_native(native).swap_bytes()) } else { native };
        Sum { acc: add_carry(self.acc, part), odd: self.odd ^ (len % 2 == 1) }
    }

    /// Adds `bytes` as big-endian 16-bit words, continuing at whatever position the bytes
    /// added before ended; an odd last byte counts as padded with zero (RFC 1071 §4.1) until
    /// more bytes follow. This is the fast path: a dispatch-free loop for buffers under
    /// [`kernel::SHORT`] bytes, and above that AVX2 when the CPU has it (chosen once per
    /// process), otherwise four 64-bit words per 32 bytes into independent accumulators.
    #[inline]
    pub fn add_bytes(self, bytes: &[u8]) -> Sum {
        self.add_native(sum_native(bytes), bytes.len())
    }

    /// Adds several byte strings as one (the chunks of a multi-buffer packet, in order): the
    /// same sum as [`Sum::add_bytes`] over their concatenation, pieces of odd length
    /// included. Each piece takes the single-slice fast path; nothing is copied.
    #[inline]
    pub fn add_slices<'a>(self, pieces: impl IntoIterator<Item = &'a [u8]>) -> Sum {
        pieces.into_iter().fold(self, Sum::add_bytes)
    }

    /// Adds a 16-bit value, exactly as `add_bytes(&value.to_be_bytes())` would.
    #[inline]
    pub fn add_u16(self, value: u16) -> Sum {
        self.add_native(u64::from(value.to_be()), 2)
    }

    /// Adds a 32-bit value, exactly as `add_bytes(&value.to_be_bytes())` would.
    #[inline]
    pub fn add_u32(self, value: u32) -> Sum {
        self.add_native(u64::from(value.to_be()), 4)
    }

    /// The sum of the bytes of `self` followed by the bytes of `other`.
    // An inherent method (with `+` as well) so callers need not import `std::ops::Add`.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn add(self, other: Sum) -> Sum {
        self.add_native(other.acc, usize::from(other.odd))
    }

    /// The one's-complement negation: the sum that, added after `self`, gives zero (0xffff
    /// once folded). For a sum of an even number of bytes, such as a pseudo-header, that is
    /// `!self.fold()` as a sum. Local Checksum Offload uses it: a packet whose checksum is
    /// right sums to the negation of its pseudo-header from the checksum's start on
    /// (Linux `Documentation/networking/checksum-offloads.rst`).
    #[inline]
    pub fn negate(self) -> Sum {
        let folded = fold_native(self.acc);
        // For odd parity, `self.add(x)` swaps x before adding, so x is the swapped negation.
        let value = if self.odd { !folded.swap_bytes() } else { !folded };
        Sum { acc: u64::from(value), odd: self.odd }
    }

    /// Folds the carries into 16 bits (host order). 0 only for a sum of zero bytes alone;
    /// otherwise 1..=0xffff, as the word-by-word reference gives.
    #[inline]
    pub fn fold(self) -> u16 {
        // The sum was kept in native order; one swap (on little-endian) makes it big-endian
        // words' sum (RFC 1071 §2(B)).
        u16::from_be(fold_native(self.acc))
    }

    /// The checksum to put on the wire: the complement of the folded sum (RFC 1071 §1).
    /// For UDP, pass it through [`Checksum::udp_wire`].
    #[inline]
    pub fn checksum(self) -> Checksum {
        Checksum(!self.fold())
    }
}

impl PartialEq for Sum {
    fn eq(&self, other: &Sum) -> bool {
        self.fold() == other.fold() && self.odd == other.odd
    }
}

impl Eq for Sum {}

impl std::ops::Add for Sum {
    type Output = Sum;

    fn add(self, other: Sum) -> Sum {
        Sum::add(self, other)
    }
}

impl std::ops::AddAssign for Sum {
    fn add_assign(&mut self, other: Sum) {
        *self = Sum::add(*self, other);
    }
}

/// A checksum as it sits in a header: the host-order `u16` of the big-endian field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Checksum(u16);

impl Checksum {
    /// A checksum of this value (as it is, not inverted).
    pub const fn new(value: u16) -> Checksum {
        Checksum(value)
    }

    /// Reads a checksum field.
    pub const fn from_be_bytes(bytes: [u8; 2]) -> Checksum {
        Checksum(u16::from_be_bytes(bytes))
    }

    /// The bytes to write into a checksum field.
    pub const fn to_be_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The 16-bit value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// For UDP, a zero field means "no checksum" (RFC 768; over IPv6 it is not allowed at
    /// all, RFC 8200 §8.1).
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The value to transmit in a UDP header: a computed 0 goes out as 0xffff, since 0 on
    /// the wire means "no checksum" (RFC 768; RFC 8200 §8.1 for IPv6). Both are zero in
    /// one's-complement arithmetic, so a receiver verifies either.
    pub const fn udp_wire(self) -> Checksum {
        if self.0 == 0 {
            Checksum(0xffff)
        } else {
            self
        }
    }
}

impl std::fmt::LowerHex for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// True when a sum taken over data that includes its checksum field is right: it folds to
/// 0xffff, one's-complement zero (RFC 1071 §1).
#[inline]
pub fn verify(sum_including_checksum_field: Sum) -> bool {
    sum_including_checksum_field.fold() == 0xffff
}

/// The folded RFC 1071 sum of an IPv4 header, 32 bits at a time. An IPv4 header is always
/// a multiple of 4 bytes long (IHL), so this needs none of [`Sum::add_bytes`]' handling of
/// odd lengths and positions; for a header that is per packet, twice for a tunnel (Linux's
/// `ip_fast_csum` does the same). A correct header sums to 0xffff.
#[inline(always)]
pub fn ipv4_header_sum(header: &[u8]) -> u16 {
    match <&[u8; 20]>::try_from(header) {
        Ok(header) => ipv4_header_sum_20(header),
        Err(_) => ipv4_header_sum_any(header),
    }
}

/// [`ipv4_header_sum`] of a header with options (or cut short).
#[inline(never)]
fn ipv4_header_sum_any(header: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = header.chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    // Only a cut-short buffer leaves a remainder; it still sums as RFC 1071 says (padded).
    for (i, byte) in words.remainder().iter().enumerate() {
        acc += u64::from(*byte) << (8 * (3 - i));
    }
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// [`ipv4_header_sum`] of a header without options (IHL 5), nearly every IPv4 header: two
/// 64-bit words and a 32-bit one in native order with end-around carry, folded and swapped
/// once (RFC 1071 §2(B), §2(C)).
#[inline(always)]
fn ipv4_header_sum_20(header: &[u8; 20]) -> u16 {
    let [a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7, c0, c1, c2, c3] = *header;
    let acc = add_carry(
        u64::from_ne_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
        u64::from_ne_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
    );
    let acc = add_carry(acc, u64::from(u32::from_ne_bytes([c0, c1, c2, c3])));
    u16::from_be(fold_native(acc))
}

/// [`ipv4_pseudo_header`] from the header's source and destination addresses as they lie
/// there, one after the other (bytes 12..20 of the IPv4 header): one 64-bit word.
#[inline]
pub fn ipv4_pseudo_header_addresses(addresses: [u8; 8], protocol: u8, l4_len: u16) -> Sum {
    let rest = u64::from(u16::from(protocol).to_be()) + u64::from(l4_len.to_be());
    // 12 bytes: the parity stays even.
    Sum { acc: add_carry(u64::from_ne_bytes(addresses), rest), odd: false }
}

/// The IPv4 pseudo-header for a UDP or TCP checksum: source, destination, a zero byte, the
/// protocol and the transport length (header plus data) (RFC 768; RFC 793 §3.1).
#[inline]
pub fn ipv4_pseudo_header(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> Sum {
    let acc = u64::from(u32::from_ne_bytes(src))
        + u64::from(u32::from_ne_bytes(dst))
        + u64::from(u16::from(protocol).to_be())
        + u64::from(l4_len.to_be());
    // 12 bytes: the parity stays even.
    Sum { acc, odd: false }
}

/// The IPv6 pseudo-header for an upper-layer checksum: source, *final* destination (the last
/// address of a routing header, if any; the caller finds it), the 32-bit upper-layer length,
/// three zero bytes and the next header value of the upper layer (RFC 8200 §8.1).
#[inline]
pub fn ipv6_pseudo_header(src: &[u8; 16], dst: &[u8; 16], l4_len: u32, next_header: u8) -> Sum {
    Sum::new().add_bytes(src).add_bytes(dst).add_u32(l4_len).add_u32(u32::from(next_header))
}

// Incremental update (RFC 1624 Eqn. 3): HC' = ~(~HC + ~m + m'). Eqn. 3 rather than RFC 1141's
// Eqn. 2, which gives 0xffff where a full recompute gives 0x0000 (RFC 1624 §3).
//
// Callers, for UDP:
// - never update an IPv4 UDP checksum of 0: it means "no checksum" (RFC 768); leave it 0;
// - pass the result through `Checksum::udp_wire`: a computed 0 is sent as 0xffff (RFC 768).
// An old value of 0xffff (a mapped 0) needs nothing special: ~0xffff and ~0 are both zero.
//
// The result equals a full recompute unless the covered data becomes all zeros (the recompute
// then gives 0xffff, the update 0, the same one's-complement value); real headers never do.

/// Updates `old` for one 16-bit word of the covered data changing from `old_word` to
/// `new_word` (RFC 1624 Eqn. 3). See the module notes for UDP.
#[inline]
pub fn update_u16(old: Checksum, old_word: u16, new_word: u16) -> Checksum {
    Sum::new().add_u16(!old.0).add_u16(!old_word).add_u16(new_word).checksum()
}

/// Updates `old` for a 32-bit field (for instance an IPv4 address) at an even offset changing
/// from `old_value` to `new_value` (RFC 1624 Eqn. 3, once per word).
#[inline]
pub fn update_u32(old: Checksum, old_value: u32, new_value: u32) -> Checksum {
    Sum::new().add_u16(!old.0).add_u32(!old_value).add_u32(new_value).checksum()
}

/// Updates `old` for a field (for instance a 16-byte IPv6 address) that starts at an even
/// offset of the covered data changing from `old_bytes` to `new_bytes` (RFC 1624 Eqn. 3; the
/// complement of a sum is the sum of the complements). For a single byte at an odd offset,
/// pass the 16-bit word that holds it instead.
///
/// Panics if the two slices differ in length.
#[inline]
pub fn update_bytes(old: Checksum, old_bytes: &[u8], new_bytes: &[u8]) -> Checksum {
    assert_eq!(old_bytes.len(), new_bytes.len(), "update_bytes: old and new field lengths differ");
    let old_sum = Sum::new().add_bytes(old_bytes).fold();
    Sum::new().add_u16(!old.0).add_u16(!old_sum).add_bytes(new_bytes).checksum()
}
