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

mod area;
mod frame;
mod ledger;
mod pool;
pub mod ring;
pub mod sim;

pub use area::{Umem, UmemConfig};
pub use frame::Frame;
pub use ledger::{BadDesc, BadDescs, FrameLedger};
pub use pool::{FramePool, PoolCache};
pub use ring::{CompRing, FillRing, RingRegion, RxRing, TxRing, XdpDesc};
