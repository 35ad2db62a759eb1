//! Who holds each frame: user space or the kernel, in every build.
//!
//! Every frame is either with user space (a pool, a burst, a worker) or with the kernel (in the
//! fill or tx ring, or in flight to the rx or completion ring). Rings report each hand-over.
//! What the kernel hands back (rx and completion descriptors) is checked here before it
//! becomes a token: inside the area, inside one chunk, and held by the kernel. A descriptor
//! that fails is refused and counted by the ring ([`BadDescs`]); it never becomes a second
//! token for a chunk user space already holds. This runs in release builds too: it costs one
//! compare-and-swap on a byte of the frame's state per descriptor.
//!
//! Handing the kernel a frame it already has is a bug of this crate (tokens are unique), and
//! panics in debug builds.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const WITH_USER: u8 = 0;
const WITH_KERNEL: u8 = 1;

/// Why a descriptor from the kernel was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadDesc {
    /// Address (or address + length) past the end of the UMEM.
    OutOfRange,
    /// `addr + len` overflows 64 bits.
    Wrapped,
    /// The data runs past the end of its chunk (aligned mode: a frame is one chunk).
    CrossesChunk,
    /// An rx descriptor of 0 bytes, or more than a chunk.
    BadLength,
    /// The chunk is not with the kernel: user space holds it already (a duplicate, or a
    /// frame never given).
    NotHeld,
}

/// Descriptors a ring refused, by reason (cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadDescs {
    /// Address (or address + length) past the end of the UMEM.
    pub out_of_range: u64,
    /// `addr + len` overflows 64 bits.
    pub wrapped: u64,
    /// The data runs past the end of its chunk.
    pub crosses_chunk: u64,
    /// An rx descriptor of 0 bytes, or more than a chunk.
    pub bad_length: u64,
    /// A chunk user space already held.
    pub not_held: u64,
}

impl BadDescs {
    /// Refused descriptors of every reason.
    pub fn total(&self) -> u64 {
        self.out_of_range + self.wrapped + self.crosses_chunk + self.bad_length + self.not_held
    }

    #[cold]
    pub(crate) fn count(&mut self, why: BadDesc) {
        let slot = match why {
            BadDesc::OutOfRange => &mut self.out_of_range,
            BadDesc::Wrapped => &mut self.wrapped,
            BadDesc::CrossesChunk => &mut self.crosses_chunk,
            BadDesc::BadLength => &mut self.bad_length,
            BadDesc::NotHeld => &mut self.not_held,
        };
        *slot += 1;
    }
}

/// Shared by a UMEM and every ring that carries its frames.
#[derive(Clone, Debug)]
pub struct FrameLedger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    umem_id: u32,
    frame_shift: u32,
    area_len: u64,
    states: Box<[AtomicU8]>,
}

impl FrameLedger {
    pub(crate) fn new(umem_id: u32, frame_size: u32, frame_count: u32) -> FrameLedger {
        assert!(frame_size.is_power_of_two());
        FrameLedger {
            inner: Arc::new(Inner {
                umem_id,
                frame_shift: frame_size.trailing_zeros(),
                area_len: u64::from(frame_size) * u64::from(frame_count),
                states: (0..frame_count).map(|_| AtomicU8::new(WITH_USER)).collect(),
            }),
        }
    }

    /// Bytes per frame of the UMEM this ledger records.
    #[inline]
    pub fn frame_size(&self) -> u32 {
        1 << self.inner.frame_shift
    }

    /// The id of the UMEM this ledger belongs to ([`crate::Umem::id`]).
    #[inline]
    pub fn umem_id(&self) -> u32 {
        self.inner.umem_id
    }

    /// Frames the kernel holds now (a scan; for exit checks and tests, not the data path).
    pub fn with_kernel(&self) -> usize {
        self.inner.states.iter().filter(|s| s.load(Ordering::Relaxed) == WITH_KERNEL).count()
    }

    /// The frame at `addr` (of this UMEM: the ring checked its id) goes to the kernel.
    #[inline]
    pub(crate) fn to_kernel(&self, addr: u64) {
        let index = (addr >> self.inner.frame_shift) as usize;
        let Some(state) = self.inner.states.get(index) else {
            // A token of this UMEM is always inside it; nothing to record otherwise.
            debug_assert!(false, "frame address {addr:#x} is outside the UMEM");
            return;
        };
        if cfg!(debug_assertions) {
            if state.compare_exchange(WITH_USER, WITH_KERNEL, Ordering::Relaxed, Ordering::Relaxed).is_err() {
                panic!("frame {index} (address {addr:#x}) given to the kernel twice: one frame in two places");
            }
        } else {
            // Only the holder of the unique token gets here, so a plain store is enough.
            state.store(WITH_KERNEL, Ordering::Relaxed);
        }
    }

    /// Checks an rx descriptor and takes its chunk back from the kernel.
    #[inline]
    pub(crate) fn claim_rx(&self, addr: u64, len: u32) -> Result<(), BadDesc> {
        let frame_size = u64::from(self.frame_size());
        if len == 0 || u64::from(len) > frame_size {
            return Err(BadDesc::BadLength);
        }
        let end = addr.checked_add(u64::from(len)).ok_or(BadDesc::Wrapped)?;
        if end > self.inner.area_len {
            return Err(BadDesc::OutOfRange);
        }
        // `addr < end <= area_len`, and the area is whole chunks: the chunk end does not overflow.
        let chunk_end = (addr & !(frame_size - 1)) + frame_size;
        if end > chunk_end {
            return Err(BadDesc::CrossesChunk);
        }
        self.claim(addr)
    }

    /// Checks a completion address and takes its chunk back from the kernel.
    #[inline]
    pub(crate) fn claim_completion(&self, addr: u64) -> Result<(), BadDesc> {
        if addr >= self.inner.area_len {
            return Err(BadDesc::OutOfRange);
        }
        self.claim(addr)
    }

    #[inline]
    fn claim(&self, addr: u64) -> Result<(), BadDesc> {
        let index = (addr >> self.inner.frame_shift) as usize;
        let state = self.inner.states.get(index).ok_or(BadDesc::OutOfRange)?;
        // An atomic exchange: two rings of one UMEM in two threads handed the same chunk at
        // the same moment still make one token, not two.
        state
            .compare_exchange(WITH_KERNEL, WITH_USER, Ordering::Relaxed, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| BadDesc::NotHeld)
    }
}
