//! The fast sum against the word-by-word reference (s2n-quic's habit): every short length,
//! sampled long ones, misaligned slices, split sums, both kernels; incremental updates against
//! full recomputes; pseudo-headers against hand-built ones.

use proptest::prelude::*;

use super::*;

/// Deterministic filler for the exhaustive tests (xorshift64).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Byte patterns that stress different things: random words, all ones (every add carries),
/// zeros (the 0 / 0xffff distinction), and a pattern that sums to 0xffff early.
fn patterns(len: usize) -> Vec<Vec<u8>> {
    vec![
        noise(len, len as u64 + 1),
        vec![0xff; len],
        vec![0; len],
        (0..len).map(|i| if i % 2 == 0 { 0xff } else { 0x00 }).collect(),
    ]
}

/// Every way this module can sum `bytes`, checked against the reference.
fn assert_all_agree(bytes: &[u8]) {
    let want = reference::sum16(bytes);
    assert_eq!(Sum::new().add_bytes(bytes).fold(), want, "fast path, len {}", bytes.len());
    assert_eq!(kernel::scalar_sum16(bytes), want, "scalar fast path, len {}", bytes.len());
    // The kernel alone too, at every length: the last piece of a buffer over 1 GiB can be short.
    assert_eq!(u16::from_be(kernel::fold_native(kernel::scalar(bytes))), want, "scalar kernel, len {}", bytes.len());
    if let Some(got) = kernel::avx2_sum16(bytes) {
        assert_eq!(got, want, "avx2 kernel, len {}", bytes.len());
    }
}

/// The classic IPv4 header with its checksum field zeroed; its checksum is 0xb861.
const IPV4_HEADER: [u8; 20] = [
    0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00,
    0xc7,
];

#[test]
fn rfc1071_example() {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 once the carry is folded.
    let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(reference::sum16(&bytes), 0xddf2);
    assert_eq!(Sum::new().add_bytes(&bytes).fold(), 0xddf2);
    assert_eq!(Sum::new().add_bytes(&bytes).checksum(), Checksum::new(0x220d));
    // §2(B): summed in the other byte order the result is the swapped one, f2dd.
    let swapped: Vec<u8> = bytes.chunks(2).flat_map(|w| [w[1], w[0]]).collect();
    assert_eq!(Sum::new().add_bytes(&swapped).fold(), 0xf2dd);
}

#[test]
fn known_ipv4_header() {
    let checksum = Sum::new().add_bytes(&IPV4_HEADER).checksum();
    assert_eq!(checksum.get(), 0xb861);
    let mut header = IPV4_HEADER;
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    assert_eq!(header[10..12], [0xb8, 0x61]);
    assert!(verify(Sum::new().add_bytes(&header)));
    header[3] ^= 1;
    assert!(!verify(Sum::new().add_bytes(&header)));
}

#[test]
fn odd_length_pads_with_zero() {
    assert_eq!(Sum::new().add_bytes(&[0x12]).fold(), 0x1200);
    assert_eq!(Sum::new().add_bytes(&[0x12, 0x34, 0x56]).fold(), 0x6834);
}

#[test]
fn empty_and_zero() {
    assert_eq!(Sum::new().fold(), 0);
    assert_eq!(Sum::default().checksum(), Checksum::new(0xffff));
    assert_eq!(Sum::new().add_bytes(&[0; 100]).fold(), 0);
    // One's-complement sums of nonzero data never fold to 0, only to 0xffff.
    assert_eq!(Sum::new().add_u16(0xfffe).add_u16(1).fold(), 0xffff);
}

#[test]
fn checksum_type() {
    let c = Checksum::from_be_bytes([0xb8, 0x61]);
    assert_eq!(c.get(), 0xb861);
    assert_eq!(c.to_be_bytes(), [0xb8, 0x61]);
    assert!(!c.is_zero());
    assert_eq!(format!("{c:#06x}"), "0xb861");
    // RFC 768: a computed 0 goes out as all ones; nothing else changes.
    assert!(Checksum::new(0).is_zero());
    assert_eq!(Checksum::new(0).udp_wire(), Checksum::new(0xffff));
    assert_eq!(c.udp_wire(), c);
    assert_eq!(Checksum::new(0xffff).udp_wire(), Checksum::new(0xffff));
}

#[test]
fn words_equal_bytes() {
    for start in [0usize, 1] {
        let base = Sum::new().add_bytes(&[0xab; 3][..start]);
        assert_eq!(base.add_u16(0x1234), base.add_bytes(&[0x12, 0x34]));
        assert_eq!(base.add_u32(0x1234_5678), base.add_bytes(&[0x12, 0x34, 0x56, 0x78]));
    }
}

#[test]
fn negate_cancels() {
    for len in [0usize, 1, 2, 3, 12, 13, 40, 41, 100, 1001] {
        let s = Sum::new().add_bytes(&noise(len, 7));
        assert_eq!(s.add(s.negate()).fold(), 0xffff, "len {len}");
        assert_eq!(s.negate().add(s).fold(), 0xffff, "len {len}");
        assert_eq!((s + s.negate()).fold(), 0xffff, "len {len}");
        if len % 2 == 0 {
            assert_eq!(s.negate().fold(), !s.fold(), "len {len}");
        }
    }
}

#[test]
fn lco_identity() {
    // A UDP datagram with a correct checksum sums to the negated pseudo-header from its
    // start: what Local Checksum Offload relies on to fill the outer checksum.
    let (src, dst) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let mut udp = noise(77, 3);
    udp[4..6].copy_from_slice(&77u16.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    let pseudo = ipv4_pseudo_header(src, dst, 17, 77);
    let checksum = pseudo.add_bytes(&udp).checksum().udp_wire();
    udp[6..8].copy_from_slice(&checksum.to_be_bytes());
    assert!(verify(pseudo.add_bytes(&udp)));
    let segment = Sum::new().add_bytes(&udp).fold();
    let negated = pseudo.negate().fold();
    // Equal as one's-complement values (0 and 0xffff are both zero).
    assert_eq!(segment % 0xffff, negated % 0xffff);
}

#[test]
fn every_short_length() {
    // Exhaustive where the short path, the kernels' tails and the block edges all live.
    for len in 0..=256 {
        for bytes in patterns(len) {
            assert_all_agree(&bytes);
        }
    }
}

#[test]
fn every_length_all_ones() {
    // All ones carries on every add: the worst case for the lanes, at every length.
    let ones = vec![0xff; 9001];
    for len in 0..=9000 {
        assert_all_agree(&ones[..len]);
    }
}

#[test]
fn kernel_is_named() {
    let name = kernel::name();
    assert!(name == "avx2" || name == "scalar", "{name}");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        assert_eq!(name, "avx2");
    }
}

#[test]
fn avx2_and_scalar_agree() {
    if kernel::avx2_sum16(&[]).is_none() {
        eprintln!("no AVX2 on this CPU: only the scalar kernel is tested");
        return;
    }
    for len in (0..=2048).chain([4095, 4096, 4097, 8999, 9000, 65535, 65536, 1 << 20]) {
        for bytes in patterns(len) {
            let scalar = u16::from_be(kernel::fold_native(kernel::scalar(&bytes)));
            assert_eq!(kernel::avx2_sum16(&bytes), Some(scalar), "len {len}");
            assert_eq!(kernel::scalar_sum16(&bytes), scalar, "len {len}");
        }
    }
}

#[test]
fn one_mebibyte() {
    for bytes in patterns(1 << 20) {
        assert_all_agree(&bytes);
        assert_all_agree(&bytes[1..]);
    }
}

/// Past the 1 GiB piece size the kernels are fed in pieces; slow in a debug build, so run it
/// with `cargo test --release -p dataplane -- --ignored over_a_gibibyte`.
#[test]
#[ignore]
fn over_a_gibibyte() {
    let bytes = vec![0xff; (1 << 30) + 7];
    assert_all_agree(&bytes);
    assert_eq!(Sum::new().add_bytes(&bytes[..1 << 30]).add_bytes(&bytes[1 << 30..]).fold(), reference::sum16(&bytes));
}

#[test]
fn ipv4_pseudo_header_by_hand() {
    let (src, dst) = ([192, 168, 0, 1], [192, 168, 0, 199]);
    let manual = [192, 168, 0, 1, 192, 168, 0, 199, 0, 17, 0x01, 0x2c];
    assert_eq!(ipv4_pseudo_header(src, dst, 17, 300).fold(), reference::sum16(&manual));
}

#[test]
fn udp_checksum_unchanged_word_keeps_zero() {
    // RFC 1624 erratum 4782's worry: HC = 0 and m = m'. With end-around carry, ~0 + ~m + m
    // folds to 0xffff, so HC' stays 0.
    assert_eq!(update_u16(Checksum::new(0), 0x5555, 0x5555), Checksum::new(0));
}

#[test]
fn ttl_decrement() {
    // The RFC 1141 / RFC 1624 use case: a router decrements the TTL.
    let mut header = IPV4_HEADER;
    let old = Sum::new().add_bytes(&header).checksum();
    let old_word = u16::from_be_bytes([header[8], header[9]]);
    header[8] -= 1;
    let new_word = u16::from_be_bytes([header[8], header[9]]);
    assert_eq!(update_u16(old, old_word, new_word), Sum::new().add_bytes(&header).checksum());
}

#[test]
#[should_panic(expected = "lengths differ")]
fn update_bytes_wants_equal_lengths() {
    update_bytes(Checksum::new(0), &[1, 2], &[1, 2, 3]);
}

fn data(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..=max),
        1 => (0..=max).prop_map(|len| vec![0xff; len]),
        1 => (0..=max).prop_map(|len| (0..len).map(|i| [0xff, 0xfe, 0x00, 0x01][i % 4]).collect()),
    ]
}

fn ipv4_header() -> impl Strategy<Value = [u8; 20]> {
    any::<[u8; 20]>().prop_map(|mut h| {
        // Version 4, IHL 5: never all zero, which is the one case where an update and a
        // recompute pick different zeros (see the module notes).
        h[0] = 0x45;
        h[10..12].copy_from_slice(&[0, 0]);
        h
    })
}

proptest! {
    #[test]
    fn fast_equals_reference(bytes in data(9000)) {
        let want = reference::sum16(&bytes);
        prop_assert_eq!(Sum::new().add_bytes(&bytes).fold(), want);
        prop_assert_eq!(kernel::scalar_sum16(&bytes), want);
        if let Some(got) = kernel::avx2_sum16(&bytes) {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn sampled_long_lengths(len in 257usize..=9000, seed in any::<u64>()) {
        assert_all_agree(&noise(len, seed));
    }

    #[test]
    fn misaligned_slices(bytes in data(9064), offset in 0usize..64, cut in any::<prop::sample::Index>()) {
        let offset = offset.min(bytes.len());
        let slice = &bytes[offset..];
        let slice = &slice[..cut.index(slice.len() + 1)];
        assert_all_agree(slice);
    }

    /// A multi-buffer packet: up to 17 chunks of any lengths (odd ones too, as a head chunk
    /// after an encapsulation can be), summed with `add_slices`, against the plain
    /// one-slice reference over their concatenation.
    #[test]
    fn multi_slice_sum_equals_the_reference_over_the_concatenation(
        bytes in data(9000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..=16),
        start in any::<u16>(),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for &to in points.iter().chain([&bytes.len()]) {
            pieces.push(&bytes[from..to]);
            from = to;
        }
        let want = reference::sum16(&bytes);
        prop_assert_eq!(Sum::new().add_slices(pieces.iter().copied()).fold(), want);
        // After a running sum (a pseudo-header), as a checksum computation starts.
        let pseudo = Sum::new().add_u16(start);
        let mut joined = start.to_be_bytes().to_vec();
        joined.extend_from_slice(&bytes);
        prop_assert_eq!(pseudo.add_slices(pieces.iter().copied()), Sum::new().add_bytes(&joined));
    }

    #[test]
    fn split_sums(bytes in data(9000), cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..=3)) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let whole = Sum::new().add_bytes(&bytes);
        prop_assert_eq!(whole.fold(), reference::sum16(&bytes));

        // Piece by piece into one running sum.
        let mut running = Sum::new();
        let mut start = 0;
        for &end in points.iter().chain([&bytes.len()]) {
            running = running.add_bytes(&bytes[start..end]);
            start = end;
        }
        prop_assert_eq!(running, whole);
        prop_assert_eq!(running.fold(), whole.fold());

        // Separate sums of the pieces, concatenated with `add`.
        let mut combined = Sum::new();
        let mut start = 0;
        for &end in points.iter().chain([&bytes.len()]) {
            combined = combined.add(Sum::new().add_bytes(&bytes[start..end]));
            start = end;
        }
        prop_assert_eq!(combined.fold(), whole.fold());
    }

    #[test]
    fn words_at_any_position(prefix in data(67), value in any::<u32>(), suffix in data(67)) {
        let base = Sum::new().add_bytes(&prefix);
        let bytes: Vec<u8> = prefix.iter().chain(&value.to_be_bytes()).chain(&suffix).copied().collect();
        prop_assert_eq!(base.add_u32(value).add_bytes(&suffix).fold(), reference::sum16(&bytes));
        let bytes: Vec<u8> = prefix.iter().chain(&(value as u16).to_be_bytes()).chain(&suffix).copied().collect();
        prop_assert_eq!(base.add_u16(value as u16).add_bytes(&suffix).fold(), reference::sum16(&bytes));
    }

    #[test]
    fn negate_is_an_inverse(bytes in data(200)) {
        let s = Sum::new().add_bytes(&bytes);
        prop_assert_eq!(s.add(s.negate()).fold(), 0xffff);
    }

    #[test]
    fn update_u16_equals_recompute(mut header in ipv4_header(), word in 0usize..9, new in any::<u16>()) {
        let at = if word >= 5 { 2 * word + 2 } else { 2 * word }; // skip the checksum field
        prop_assume!(!(at == 0 && new >> 8 == 0)); // keep the version byte nonzero
        let old = Sum::new().add_bytes(&header).checksum();
        let old_word = u16::from_be_bytes([header[at], header[at + 1]]);
        header[at..at + 2].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(update_u16(old, old_word, new), Sum::new().add_bytes(&header).checksum());
    }

    #[test]
    fn update_u32_equals_recompute(mut header in ipv4_header(), field in 0usize..4, new in any::<u32>()) {
        // Even offsets whose four bytes miss the checksum field: 2..6 and the addresses.
        let at = [2, 4, 12, 16][field];
        let old = Sum::new().add_bytes(&header).checksum();
        let old_value = u32::from_be_bytes(header[at..at + 4].try_into().unwrap());
        header[at..at + 4].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(update_u32(old, old_value, new), Sum::new().add_bytes(&header).checksum());
        // The same change as bytes.
        prop_assert_eq!(update_bytes(old, &old_value.to_be_bytes(), &new.to_be_bytes()), update_u32(old, old_value, new));
    }

    #[test]
    fn update_ipv6_address_equals_recompute(
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        new_src in any::<[u8; 16]>(),
        payload in data(300),
    ) {
        // A UDP/IPv6 datagram (RFC 8200 §8.1): rewriting the source address (as a NAT66 or
        // an SRv6 end point does) changes the checksum through the pseudo-header alone.
        let len = (8 + payload.len()) as u32;
        let mut udp = vec![0x12, 0x34, 0x17, 0xc1, 0, 0, 0, 0];
        udp[4..6].copy_from_slice(&(len as u16).to_be_bytes());
        udp.extend_from_slice(&payload);
        let old = ipv6_pseudo_header(&src, &dst, len, 17).add_bytes(&udp).checksum().udp_wire();
        let want = ipv6_pseudo_header(&new_src, &dst, len, 17).add_bytes(&udp).checksum().udp_wire();
        prop_assert_eq!(update_bytes(old, &src, &new_src).udp_wire(), want);
    }

    #[test]
    fn ipv6_pseudo_header_by_hand(src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), len in any::<u32>(), next in any::<u8>()) {
        let mut manual = Vec::with_capacity(40);
        manual.extend_from_slice(&src);
        manual.extend_from_slice(&dst);
        manual.extend_from_slice(&len.to_be_bytes());
        manual.extend_from_slice(&[0, 0, 0, next]);
        prop_assert_eq!(ipv6_pseudo_header(&src, &dst, len, next).fold(), reference::sum16(&manual));
    }

    #[test]
    fn ipv4_pseudo_header_random(src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(), len in any::<u16>()) {
        let mut manual = Vec::with_capacity(12);
        manual.extend_from_slice(&src);
        manual.extend_from_slice(&dst);
        manual.extend_from_slice(&[0, proto]);
        manual.extend_from_slice(&len.to_be_bytes());
        prop_assert_eq!(ipv4_pseudo_header(src, dst, proto, len).fold(), reference::sum16(&manual));
    }
}

#[test]
fn the_ipv4_header_sum_equals_the_reference() {
    let mut header = [0u8; 60];
    for (i, byte) in header.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(151).wrapping_add(0xf7);
    }
    for len in (20..=60).step_by(4) {
        assert_eq!(super::ipv4_header_sum(&header[..len]), super::reference::sum16(&header[..len]), "{len} bytes");
    }
    assert_eq!(super::ipv4_header_sum(&[0xff; 60]), super::reference::sum16(&[0xff; 60]));
    for len in 0..20 {
        assert_eq!(super::ipv4_header_sum(&header[..len]), super::reference::sum16(&header[..len]), "cut to {len}");
    }
}
