//! Debug-build bookkeeping of who holds each frame.
//!
//! Every frame is either with user space (a pool, a burst, a worker) or with the kernel (in the
//! fill or tx ring, or in flight to the rx or completion ring). Rings report each hand-over;
//! handing the kernel a frame it already has, or receiving one it does not have, is the bug
//! "one frame in two places", and it panics at once. Release builds compile this away.

#[cfg(debug_assertions)]
use std::sync::{
    atomic::{AtomicU8, Ordering},
    Arc,
};

#[cfg(debug_assertions)]
const WITH_USER: u8 = 0;
#[cfg(debug_assertions)]
const WITH_KERNEL: u8 = 1;

/// Shared by a UMEM and every ring that carries its frames.
#[derive(Clone, Debug)]
pub struct FrameLedger {
    frame_shift: u32,
    #[cfg(debug_assertions)]
    states: Arc<[AtomicU8]>,
}

impl FrameLedger {
    pub(crate) fn new(frame_size: u32, frame_count: u32) -> FrameLedger {
        assert!(frame_size.is_power_of_two());
        #[cfg(not(debug_assertions))]
        let _ = frame_count;
        FrameLedger {
            frame_shift: frame_size.trailing_zeros(),
            #[cfg(debug_assertions)]
            states: (0..frame_count).map(|_| AtomicU8::new(WITH_USER)).collect(),
        }
    }

    #[inline]
    pub fn frame_size(&self) -> u32 {
        1 << self.frame_shift
    }

    /// The frame at `addr` goes to the kernel (fill or tx ring).
    #[inline]
    pub fn to_kernel(&self, addr: u64) {
        #[cfg(debug_assertions)]
        self.transition(addr, WITH_USER, WITH_KERNEL, "given to the kernel twice");
        #[cfg(not(debug_assertions))]
        let _ = addr;
    }

    /// The kernel gives the frame at `addr` back (rx or completion ring).
    #[inline]
    pub fn from_kernel(&self, addr: u64) {
        #[cfg(debug_assertions)]
        self.transition(addr, WITH_KERNEL, WITH_USER, "returned by the kernel but never given to it");
        #[cfg(not(debug_assertions))]
        let _ = addr;
    }

    #[cfg(debug_assertions)]
    fn transition(&self, addr: u64, from: u8, to: u8, what: &str) {
        let index = (addr >> self.frame_shift) as usize;
        let state = self.states.get(index).unwrap_or_else(|| panic!("frame address {addr:#x} is outside the UMEM"));
        if state.compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed).is_err() {
            panic!("frame {index} (address {addr:#x}) {what}: one frame in two places");
        }
    }
}
