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
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    addr: u64,
    /// Data length in the low 31 bits; [`HAS_NEXT`] on top.
    len: u32,
    umem: u32,
}

/// The length word's flag: a continuation chunk follows (kept by the pool cache).
const HAS_NEXT: u32 = 1 << 31;

impl Frame {
    pub(crate) fn from_raw(umem: u32, addr: u64, len: u32) -> Frame {
        Frame { addr, len: len & !HAS_NEXT, umem }
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
    /// [`crate::Umem::data`] refuses lengths past the end of the frame.
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.len = (len as u32 & !HAS_NEXT) | (self.len & HAS_NEXT);
    }

    #[inline]
    pub(crate) fn set_has_next(&mut self, next: bool) {
        self.len = (self.len & !HAS_NEXT) | if next { HAS_NEXT } else { 0 };
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
    }
}
