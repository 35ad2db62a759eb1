//! The engine: what a worker does with the frames a port gives it.
//!
//! The path of one frame: a [`worker::Worker`] calls `rx_burst` on a `pmd` port queue and
//! hands the burst to its forwarding engine ([`engines`]: `io`, `checked` or `classified`,
//! chosen when the worker is built). The engine runs the [`pipeline`] stages (walk the layers
//! with `wire`, apply the checksum policy, build the keys and classify with `rules`, rewrite)
//! and sends each frame through [`queues::Queues`] or frees it, counting everything in the
//! worker's own [`stats::WorkerStats`]. [`cores`] reads which cores a worker may be pinned to.
#![warn(missing_docs, unreachable_pub)]

pub mod cores;
pub mod engines;
mod error;
pub mod pipeline;
pub mod queues;
pub mod stats;
pub mod worker;

pub use error::SetupError;
