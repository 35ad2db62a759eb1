/// One UMEM frame, owned by whoever holds this token.
///
/// `addr` is the offset of the first data byte from the start of the UMEM (as in an AF_XDP
/// descriptor), `len` the number of data bytes. Only this crate creates frames: the UMEM hands
/// out each one once, and the rings turn descriptors back into tokens only for frames the
/// kernel gives back.
///
/// A frame also carries the identity of its UMEM (`umem_id`, unique in the process): a
/// [`crate::Umem`] or ring refuses a frame of another UMEM instead of reading or writing the
/// chunk at the same offset of its own area (see [`crate::Umem::owns`]). The token stays 16
/// bytes: the id fills what was padding.
///
/// Multi-buffer (a packet spanning several chunks, AF_XDP's `XDP_USE_SG`): the token in a
/// burst is the packet's head chunk; its continuation chunks are tokens kept by the worker's
/// [`crate::PoolCache`] ([`crate::PoolCache::append`], [`crate::PoolCache::next`]), and the
/// head says so with [`Frame::has_next`] (the top bit of the length word, so the token stays
/// 16 bytes and a single-chunk frame pays one bit test where it is freed).
///
/// It also carries a [`TxCsum`]: an L4 checksum the device is asked to complete when the
/// frame is sent (`--csum offload`). Every frame starts without one (received, or fresh
/// from a pool), and a pool clears it when the frame comes back.
#[derive(Debug, PartialEq, Eq)]
// C layout keeps `len` and `tx_csum` side by side, so [`BurstSums`] reads both as one word.
#[repr(C)]
pub struct Frame {
    addr: u64,
    // A chunk is at most 4096 bytes, so 15 bits hold a frame's length, [`HAS_NEXT`] sits on
    // top, and the token stays 16 bytes with the checksum request beside it.
    len: u16,
    tx_csum: TxCsum,
    umem: u32,
}

/// The length word's flag: a continuation chunk follows (kept by the pool cache).
const HAS_NEXT: u16 = 1 << 15;
/// The longest length the word holds: past every chunk, so [`crate::Umem::data`] refuses it.
const LEN_MAX: usize = (HAS_NEXT - 1) as usize;

/// A request for the device to complete one L4 checksum of a frame at transmit (AF_XDP TX
/// metadata `XDP_TXMD_FLAGS_CHECKSUM`, or skb `CHECKSUM_PARTIAL`): sum the bytes from
/// `start` (counted from the frame's first data byte) to the end of the frame and store the
/// folded complement at `start + offset`, where the pseudo-header sum already sits.
///
/// Packed into 16 bits: `start` below 4096 (a frame is at most one chunk of 4096 bytes) and
/// an even `offset` of 2 to 30 (UDP's is 6, TCP's 16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxCsum(u16);

impl TxCsum {
    /// No request: the frame's checksums are all in place.
    pub const NONE: TxCsum = TxCsum(0);

    /// A request for the checksum at `start + offset`, summed from `start`; `None` where it
    /// cannot be packed (`start` from 4096, `offset` odd, 0 or above 30).
    pub const fn new(start: usize, offset: usize) -> Option<TxCsum> {
        if start >= 4096 || offset % 2 == 1 || offset == 0 || offset > 30 {
            return None;
        }
        Some(TxCsum(((start as u16) << 4) | (offset / 2) as u16))
    }

    /// Whether this is a request at all.
    #[inline]
    pub const fn is_some(self) -> bool {
        self.0 != 0
    }

    /// Where the sum starts, from the frame's first data byte (`csum_start`).
    #[inline]
    pub const fn start(self) -> usize {
        (self.0 >> 4) as usize
    }

    /// Where the checksum field is, from `start` (`csum_offset`).
    #[inline]
    pub const fn offset(self) -> usize {
        ((self.0 & 0xf) * 2) as usize
    }
}

/// What a burst of frames adds up to, for the per-burst counters: the bytes of their (head)
/// chunks, how many carry a checksum request, and whether any is chained. One branch-free
/// pass reading one 32-bit word per token, which the compiler vectorises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BurstSums {
    /// The bytes of the frames' (first) chunks.
    pub bytes: u32,
    /// Frames with a checksum request ([`Frame::tx_csum`]).
    pub requests: u32,
    /// Whether any frame has a continuation chunk ([`Frame::has_next`]).
    pub chained: bool,
}

impl BurstSums {
    /// The sums of `frames` (fewer than 2^16 of them: the 32-bit sums cannot overflow, as a
    /// chunk's length has 15 bits).
    #[inline]
    pub fn of(frames: &[Frame]) -> BurstSums {
        debug_assert!(frames.len() < 1 << 16);
        let (bytes, requests, flags) = frames.iter().fold((0u32, 0u32, 0u32), |(bytes, requests, flags), f| {
            let word = f.length_and_request();
            (bytes + (word & u32::from(!HAS_NEXT)), requests + u32::from(word >> 16 != 0), flags | word)
        });
        BurstSums { bytes, requests, chained: flags & u32::from(HAS_NEXT) != 0 }
    }

    /// The sums of frames just received, which carry no checksum request (cheaper: two
    /// sums instead of three).
    #[inline]
    pub fn of_received(frames: &[Frame]) -> BurstSums {
        debug_assert!(frames.len() < 1 << 16);
        debug_assert!(frames.iter().all(|f| !f.tx_csum.is_some()), "a received frame carries no request");
        let (bytes, flags) =
            frames.iter().fold((0u32, 0u16), |(bytes, flags), f| (bytes + u32::from(f.len & !HAS_NEXT), flags | f.len));
        BurstSums { bytes, requests: 0, chained: flags & HAS_NEXT != 0 }
    }
}

impl Frame {
    /// The length word and the checksum request as one word (adjacent fields: one load).
    #[inline]
    fn length_and_request(&self) -> u32 {
        u32::from(self.len) | (u32::from(self.tx_csum.0) << 16)
    }

    pub(crate) fn from_raw(umem: u32, addr: u64, len: u32) -> Frame {
        Frame { addr, len: (len as usize).min(LEN_MAX) as u16, tx_csum: TxCsum::NONE, umem }
    }

    /// The id of the UMEM this frame belongs to ([`crate::Umem::id`]).
    #[inline]
    pub fn umem_id(&self) -> u32 {
        self.umem
    }

    /// Offset of the first data byte in the UMEM.
    #[inline]
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Number of data bytes.
    #[inline]
    pub fn len(&self) -> usize {
        (self.len & !HAS_NEXT) as usize
    }

    /// True when the frame holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a continuation chunk of the same packet follows this one (multi-buffer; the
    /// pool cache of its UMEM holds it: [`crate::PoolCache::next`]).
    #[inline]
    pub fn has_next(&self) -> bool {
        self.len & HAS_NEXT != 0
    }

    /// Sets the data length (of this chunk; a chain stays a chain).
    /// [`crate::Umem::data`] refuses lengths past the end of the frame (a length beyond 15
    /// bits is kept as 32767, which is past every chunk).
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(LEN_MAX) as u16 | (self.len & HAS_NEXT);
    }

    #[inline]
    pub(crate) fn set_has_next(&mut self, next: bool) {
        self.len = (self.len & !HAS_NEXT) | if next { HAS_NEXT } else { 0 };
    }

    /// The L4 checksum the device is asked to complete when the frame is sent.
    #[inline]
    pub fn tx_csum(&self) -> TxCsum {
        self.tx_csum
    }

    /// Asks for (or, with [`TxCsum::NONE`], withdraws) a checksum completed at transmit.
    #[inline]
    pub fn set_tx_csum(&mut self, request: TxCsum) {
        self.tx_csum = request;
    }

    /// Moves the data start within the chunk (the caller checked the bounds).
    #[inline]
    pub(crate) fn move_to(&mut self, addr: u64, len: usize) {
        self.addr = addr;
        self.set_len(len);
    }

    /// The start of the frame's chunk, for a power-of-two frame size.
    #[inline]
    pub(crate) fn chunk_base(&self, frame_size: u32) -> u64 {
        self.addr & !(u64::from(frame_size) - 1)
    }

    /// Back to the empty state a pool keeps: data starts at the chunk, no bytes.
    #[inline]
    pub(crate) fn reset(&mut self, frame_size: u32) {
        self.addr = self.chunk_base(frame_size);
        self.len = 0;
        self.tx_csum = TxCsum::NONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_stays_16_bytes() {
        assert_eq!(std::mem::size_of::<Frame>(), 16);
    }

    #[test]
    fn a_request_packs_start_and_offset() {
        for (start, offset) in [(0, 6), (34, 6), (54, 16), (4095, 16), (100, 2), (100, 30)] {
            let request = TxCsum::new(start, offset).unwrap();
            assert!(request.is_some());
            assert_eq!((request.start(), request.offset()), (start, offset));
        }
        for (start, offset) in [(4096, 6), (10, 0), (10, 7), (10, 32)] {
            assert_eq!(TxCsum::new(start, offset), None, "{start}/{offset}");
        }
        assert!(!TxCsum::NONE.is_some());
    }

    #[test]
    fn a_long_length_saturates_past_every_chunk() {
        let mut frame = Frame::from_raw(1, 0, 70_000);
        assert_eq!(frame.len(), LEN_MAX);
        assert!(!frame.has_next(), "a long length does not spill into the chain flag");
        frame.set_len(1 << 20);
        assert_eq!(frame.len(), LEN_MAX);
        frame.set_has_next(true);
        frame.set_len(60);
        assert_eq!((frame.len(), frame.has_next()), (60, true));
    }

    /// The plain sums, one field at a time.
    fn reference_sums(frames: &[Frame]) -> BurstSums {
        BurstSums {
            bytes: frames.iter().map(|f| f.len() as u32).sum(),
            requests: frames.iter().filter(|f| f.tx_csum().is_some()).count() as u32,
            chained: frames.iter().any(Frame::has_next),
        }
    }

    proptest::proptest! {
        #[test]
        fn burst_sums_match_the_plain_sums(
            frames in proptest::collection::vec((0usize..=LEN_MAX, proptest::bool::ANY, 0usize..4096, 1usize..16), 0..300),
        ) {
            let mut burst: Vec<Frame> = Vec::new();
            for (i, &(len, next, start, half_offset)) in frames.iter().enumerate() {
                let mut frame = Frame::from_raw(1, (i * 4096) as u64, len as u32);
                frame.set_has_next(next);
                if i % 3 == 0 {
                    frame.set_tx_csum(TxCsum::new(start, 2 * half_offset).unwrap());
                }
                burst.push(frame);
            }
            proptest::prop_assert_eq!(BurstSums::of(&burst), reference_sums(&burst));
            for frame in &mut burst {
                frame.set_tx_csum(TxCsum::NONE);
            }
            proptest::prop_assert_eq!(BurstSums::of_received(&burst), reference_sums(&burst));
        }
    }
}
