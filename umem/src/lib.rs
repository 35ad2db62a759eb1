//! The memory side of AF_XDP.
//!
//! * [`Umem`]: one contiguous area split into equal frames (2048 or 4096 bytes), registered
//!   with the kernel by the AF_XDP driver in `pmd`.
//! * [`Frame`]: a token for one frame. It is not `Copy` or `Clone`: a frame is in exactly one
//!   place at a time (a pool, a ring, a burst), and moving the token is moving the frame.
//! * [`FramePool`] / [`PoolCache`]: where free frames wait; a shared pool with per-worker
//!   caches so the hot path never touches shared state.
//! * [`ring`]: the four AF_XDP rings, each its own type, with cached producer/consumer
//!   indices and batches that publish on commit and roll back when dropped.
//!
//! A [`FrameLedger`] records, for every frame, whether user space or the kernel holds it.
//! Descriptors the kernel hands back (rx and completion rings) are checked against it and
//! against the area before they become tokens, in every build: a bad one is dropped and
//! counted ([`BadDescs`]), never turned into a second token for one chunk. Frames carry the
//! id of their UMEM, and a UMEM or ring refuses the frames of another.
//!
//! How it is used: the AF_XDP driver creates a UMEM, registers it with a socket and maps
//! the socket's rings over it ([`RingRegion::map`]); a worker keeps the free frames in a
//! [`PoolCache`] and moves tokens between the pool, the rings and its bursts. [`sim`] plays
//! the kernel's side on heap rings, for tests without one.
//!
//! ```
//! use umem::{sim, PoolCache, Umem, UmemConfig};
//!
//! let (umem, frames) = Umem::create(&UmemConfig { frame_count: 64, ..Default::default() })?;
//! let mut pool = PoolCache::owning(frames, umem.frame_size());
//! let (mut rings, mut kernel) = sim::socket(32, umem.ledger())?;
//! // Lend the kernel frames to receive into; it fills 4 of them with 60 bytes.
//! let mut empty = Vec::new();
//! pool.get_many(&mut empty, 16);
//! rings.fill.fill_from(&mut empty, 16);
//! kernel.receive(4, 60);
//! let mut burst = Vec::new();
//! assert_eq!(rings.rx.receive_into(&mut burst, 64), 4);
//! assert_eq!(umem.data(&burst[0]).len(), 60);
//! pool.put_all(&mut burst);
//! # Ok::<(), std::io::Error>(())
//! ```

// This crate talks to the kernel through raw memory and system calls; every unsafe block
// says why it is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]

mod area;
mod frame;
mod ledger;
pub mod numa;
mod pool;
pub mod ring;
pub mod sim;

pub use area::{Umem, UmemConfig};
pub use frame::{BurstSums, Frame, TxCsum};
pub use ledger::{BadDesc, BadDescs, FrameLedger};
pub use pool::{FramePool, PoolCache};
pub use ring::{
    CompRing, FillRing, MbRx, RingRegion, RxCount, RxRing, TxCount, TxRing, XdpDesc, MAX_PIECES, XDP_PKT_CONTD,
};
