//! The dataplane: poll-mode workers over `pmd` ports, and the tools around them.
//!
//! Per frame: [`wire`] walks the layers, [`pipeline`] applies the checksum policy (with
//! [`csum`]), the worker's action sends or drops it.
//!
//! The path of one frame: a [`worker::Worker`] calls `rx_burst` on a port queue, applies
//! its [`worker::Action`], and calls `tx_burst` (or frees the frame), counting everything in
//! its own [`stats::WorkerStats`]. [`run`] sets workers up and reports; [`gen`] and
//! [`sink`] are the traffic generator and counter the tests and benchmarks use.

pub mod cores;
pub mod csum;
pub mod gen;
pub mod gen_match;
pub mod inspect;
pub mod lab;
pub mod pipeline;
pub mod rules_cmd;
pub mod run;
pub mod sink;
pub mod stamp;
pub mod stats;
pub mod template;
pub mod wire;
pub mod worker;
