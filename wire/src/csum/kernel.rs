//! The summing loops behind [`Sum::add_bytes`](super::Sum::add_bytes).
//!
//! Every kernel reads the buffer in *native* byte order and returns an unfolded `u64`. RFC 1071
//! §2(B) (byte-order independence) makes that correct: on a little-endian machine the folded
//! sum of byte-swapped words is the byte-swapped sum, so one swap at the very end (in
//! [`Sum::fold`](super::Sum::fold)) replaces one per word. RFC 1071 §2(C) and §2(D) (parallel
//! summation, deferred carries) let the kernels add wider words and fold the carries once at
//! the end: 2^16 ≡ 1 (mod 2^16 - 1), so every 16-bit piece of a wider word lands where it
//! belongs.
//!
//! Two ways to keep carries: 64-bit words with end-around carry (`add_carry`, or a `u128`
//! accumulator whose high half counts the carries: add + adc on x86), or 32-bit words into
//! 64-bit lanes (the AVX2 kernel, which has no vector carry). Kernels see at most
//! `MAX_CHUNK` (1 GiB) bytes at a time, so such a lane cannot overflow (2^28 words of less than
//! 2^32 each sum to less than 2^60).

use std::sync::OnceLock;

/// Buffers shorter than this take a short loop with no dispatch: the dataplane sums a 20-byte
/// IPv4 header per packet, where a function pointer and a vector setup cost more than they
/// save. Measured on Zen 3 (`benches/benches/csum.rs` at other sizes): the AVX2 kernel takes
/// 6-8 ns anywhere from 64 to 256 bytes, the short loop 4.6 ns at 64, 6 at 96 and 8 at 128.
pub const SHORT: usize = 128;

/// The largest piece one kernel call sees (even, so pieces keep word alignment).
const MAX_CHUNK: usize = 1 << 30;

type Kernel = fn(&[u8]) -> u64;

/// The kernel picked at run time, cached so the feature test runs once per process.
static KERNEL: OnceLock<(Kernel, &'static str)> = OnceLock::new();

fn pick() -> (Kernel, &'static str) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        return (avx2::checked, "avx2");
    }
    (scalar, "scalar")
}

/// The name of the kernel [`Sum::add_bytes`](super::Sum::add_bytes) uses for long buffers on
/// this machine: `"avx2"` or `"scalar"`.
pub fn name() -> &'static str {
    KERNEL.get_or_init(pick).1
}

/// The unfolded native-order sum of `bytes`, through the fastest kernel for its length.
#[inline(always)]
pub(super) fn sum_native(bytes: &[u8]) -> u64 {
    if bytes.len() < SHORT {
        return short(bytes);
    }
    long(bytes)
}

/// [`sum_native`] from [`SHORT`] bytes on: out of line, so the short path inlines into the
/// per-packet code without carrying the dispatch along.
#[inline(never)]
fn long(bytes: &[u8]) -> u64 {
    let kernel = KERNEL.get_or_init(pick).0;
    if bytes.len() <= MAX_CHUNK {
        return kernel(bytes);
    }
    bytes.chunks(MAX_CHUNK).fold(0, |acc, chunk| add_carry(acc, kernel(chunk)))
}

/// The folded sum of `bytes` as the fast path computes it on a CPU without AVX2 (the short
/// loop below [`SHORT`] bytes, the portable kernel from there on), whatever this one has: for
/// tests and for the benchmark's comparison. Equal to [`reference::sum16`](super::reference::sum16).
pub fn scalar_sum16(bytes: &[u8]) -> u16 {
    let acc = if bytes.len() < SHORT {
        short(bytes)
    } else {
        bytes.chunks(MAX_CHUNK).fold(0, |acc, chunk| add_carry(acc, scalar(chunk)))
    };
    u16::from_be(fold_native(acc))
}

/// The folded sum of `bytes` through the AVX2 kernel, or `None` when the CPU lacks AVX2.
pub fn avx2_sum16(bytes: &[u8]) -> Option<u16> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        let acc = bytes.chunks(MAX_CHUNK).fold(0, |acc, chunk| add_carry(acc, avx2::checked(chunk)));
        return Some(u16::from_be(fold_native(acc)));
    }
    let _ = bytes;
    None
}

/// One's-complement addition of two 64-bit values: the carry out of bit 63 comes back in at
/// bit 0 (2^64 ≡ 1 mod 2^16 - 1). Never yields 0 unless both inputs are 0.
#[inline]
pub(super) fn add_carry(a: u64, b: u64) -> u64 {
    let (sum, carry) = a.overflowing_add(b);
    // No second carry: if the first add overflowed, `sum` is at most 2^64 - 2.
    sum + u64::from(carry)
}

/// Folds a 64-bit one's-complement sum to 16 bits, branch-free. The byte order is whatever
/// the input's was. Returns 0 only for 0, so a sum of nonzero data stays in 1..=0xffff,
/// exactly as the word-by-word reference does.
#[inline]
pub(super) fn fold_native(acc: u64) -> u16 {
    let (sum, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    let sum = sum + u32::from(carry);
    let (sum, carry) = (sum as u16).overflowing_add((sum >> 16) as u16);
    sum + u16::from(carry)
}

/// Short buffers: 32-byte blocks of 64-bit words with end-around carry, then at most one
/// 16-, 8-, 4- and 2-byte piece and an odd byte, by length bits rather than a remainder loop
/// (straight-line code for the tails of headers and small packets). The accumulator may
/// reach 2^64 - 1, so every 64-bit add carries around.
#[inline]
fn short(bytes: &[u8]) -> u64 {
    // Constant offsets inside a fixed-size block: the conversions cannot fail.
    let word = |b: &[u8], i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().unwrap());
    let mut acc = 0u64;
    let mut rest = bytes;
    while let Some((block, tail)) = rest.split_first_chunk::<32>() {
        acc = add_carry(acc, word(block, 0));
        acc = add_carry(acc, word(block, 8));
        acc = add_carry(acc, word(block, 16));
        acc = add_carry(acc, word(block, 24));
        rest = tail;
    }
    if let Some((pair, tail)) = rest.split_first_chunk::<16>() {
        acc = add_carry(add_carry(acc, word(pair, 0)), word(pair, 8));
        rest = tail;
    }
    if let Some((w, tail)) = rest.split_first_chunk::<8>() {
        acc = add_carry(acc, u64::from_ne_bytes(*w));
        rest = tail;
    }
    // Under 2^33: a 32-bit word plus at most two 16-bit ones.
    let mut last = 0u64;
    if let Some((w, tail)) = rest.split_first_chunk::<4>() {
        last += u64::from(u32::from_ne_bytes(*w));
        rest = tail;
    }
    if let Some((w, tail)) = rest.split_first_chunk::<2>() {
        last += u64::from(u16::from_ne_bytes(*w));
        rest = tail;
    }
    // An odd byte, padded with zero on its right in wire order (RFC 1071 §4.1), which
    // `from_ne_bytes([b, 0])` is in either order.
    if let [byte] = *rest {
        last += u64::from(u16::from_ne_bytes([byte, 0]));
    }
    add_carry(acc, last)
}

/// The portable kernel: four independent `u128` accumulators over 32-byte blocks, one 64-bit
/// word each per block. A `u128` add is add + adc, and the four chains do not wait on each
/// other (about 1.8x the speed of 32-bit words into `u64`s on Zen 3). It cannot overflow.
pub(super) fn scalar(bytes: &[u8]) -> u64 {
    let word = |b: &[u8], i: usize| u128::from(u64::from_ne_bytes(b[i..i + 8].try_into().unwrap()));
    let (mut a0, mut a1, mut a2, mut a3) = (0u128, 0u128, 0u128, 0u128);
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        a0 += word(b, 0);
        a1 += word(b, 8);
        a2 += word(b, 16);
        a3 += word(b, 24);
    }
    let a = a0 + a1 + a2 + a3;
    add_carry(add_carry(a as u64, (a >> 64) as u64), short(blocks.remainder()))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use crate::csum::kernel::{add_carry, short};
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi64, _mm256_and_si256, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_loadu_si256, _mm256_set1_epi64x, _mm256_setzero_si256, _mm256_srli_epi64, _mm_add_epi64,
        _mm_cvtsi128_si64, _mm_unpackhi_epi64,
    };

    /// Installed by [`super::pick`] only after `is_x86_feature_detected!("avx2")` said yes,
    /// and called by [`super::avx2_sum16`] only after the same test.
    pub(super) fn checked(bytes: &[u8]) -> u64 {
        // SAFETY: every path to this function runs after the AVX2 feature test succeeded
        // (see the doc comment); it is private to the kernel module so nothing else can.
        unsafe { sum(bytes) }
    }

    /// Splits each 64-bit lane of `v` into its two 32-bit words and adds them to `acc`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn add_words(acc: __m256i, v: __m256i) -> __m256i {
        let low = _mm256_and_si256(v, _mm256_set1_epi64x(0xffff_ffff));
        // low + high first: one add on the accumulator chain per vector, not two.
        _mm256_add_epi64(acc, _mm256_add_epi64(low, _mm256_srli_epi64::<32>(v)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(block: &[u8]) -> __m256i {
        assert!(block.len() >= 32);
        // SAFETY: the assert keeps the 32-byte read inside `block`; loadu has no alignment
        // requirement, and AVX2 is enabled for this function.
        unsafe { _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()) }
    }

    /// 128-byte blocks into four vector accumulators (four 32-byte loads in flight), then
    /// 32-byte blocks, then the scalar short path for the last 0..31 bytes. Each 64-bit lane
    /// gets only 32-bit words, and the caller keeps `bytes` within MAX_CHUNK, so no lane and
    /// no sum of lanes can overflow.
    #[target_feature(enable = "avx2")]
    fn sum(bytes: &[u8]) -> u64 {
        let (mut a0, mut a1, mut a2, mut a3) =
            (_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256());
        let mut blocks = bytes.chunks_exact(128);
        for b in &mut blocks {
            a0 = add_words(a0, load(&b[0..32]));
            a1 = add_words(a1, load(&b[32..64]));
            a2 = add_words(a2, load(&b[64..96]));
            a3 = add_words(a3, load(&b[96..128]));
        }
        let mut rest = blocks.remainder().chunks_exact(32);
        for b in &mut rest {
            a0 = add_words(a0, load(b));
        }
        let acc = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
        let half = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let lanes = _mm_add_epi64(half, _mm_unpackhi_epi64(half, half));
        add_carry(_mm_cvtsi128_si64(lanes) as u64, short(rest.remainder()))
    }
}
