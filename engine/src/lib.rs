//! The engine: what a worker does with the frames a port gives it.
//!
//! The path of one frame: a [`worker::Worker`] calls `rx_burst` on a `pmd` port queue, runs
//! the [`pipeline`] (walk the layers with `wire`, apply the checksum policy, classify with
//! `rules`, rewrite) and calls `tx_burst` or frees the frame, counting everything in its own
//! [`stats::WorkerStats`]. [`cores`] reads which cores a worker may be pinned to.

pub mod cores;
mod error;
pub mod pipeline;
pub mod stats;
pub mod worker;

pub use error::SetupError;
