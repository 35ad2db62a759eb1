//! Poll-mode drivers behind one [`Port`] trait, DPDK style: a worker calls
//! [`Port::rx_burst`] and [`Port::tx_burst`] on the queues it owns, in bursts of
//! [`BURST`], and nothing on the data path allocates, locks or makes a system call other
//! than the AF_XDP wakeups.
//!
//! * [`af_xdp`]: AF_XDP sockets, with an XDP redirect program built in Rust and attached
//!   through a bpf_link (gone when the process is).
//! * [`pcap`]: replay a capture file, write a capture file.
//! * [`mem`]: an in-memory loopback for tests and benchmarks.
//!
//! How it is used: a port is named by a devargs string ([`PortSpec`], e.g.
//! `af_xdp:iface=eth1,queues=0-3`); each worker owns a set of UMEMs ([`Umems`]) that all its
//! ports take frames from, and [`open`] opens one queue of a port on them, whatever its
//! driver. AF_XDP interfaces are prepared once before their queues open
//! ([`af_xdp::AfXdpDevice::open`]) and attached once every queue is
//! ([`af_xdp::AfXdpDevice::attach`]). What the kernel counted for a queue (AF_XDP's
//! `XDP_STATISTICS`) is read through [`Port::counters`] while the worker polls. Every
//! failure is an [`Error`] saying what to do.
//!
//! ```
//! use pmd::{OpenWith, PortSpec, Umems, BURST};
//!
//! let spec: PortSpec = "mem:preload=4".parse()?;
//! let mut umems = Umems::new(umem::UmemConfig::default())?;
//! let mut port = pmd::open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &[0; 60] })?;
//! let pool = &mut umems.slots[0].pool;
//! let mut burst = Vec::new();
//! let received = port.rx_burst(pool, &mut burst, BURST);
//! assert_eq!(port.tx_burst(pool, &mut burst), received, "a loop takes back what it gave");
//! # Ok::<(), pmd::Error>(())
//! ```
//!
//! [`xdp_prog`] holds the AF_XDP redirect program and the plain packet counter.

// This crate talks to the kernel through raw memory and system calls; every unsafe block
// says why it is sound in a `// SAFETY:` comment.
#![allow(unsafe_code)]

pub mod af_xdp;
pub mod caps;
pub mod capture;
pub mod clock;
mod counters;
mod error;
pub mod mem;
pub mod napi;
pub mod netdev;
pub mod netdev_genl;
mod open;
pub mod pcap;
mod port;
pub mod rx_hints;
pub mod sched;
pub mod spec;
mod umems;
pub mod xdp_prog;

pub use counters::{CounterSource, PortCounters};
pub use error::{Error, SteerProblem};
pub use open::{open, OpenWith};
pub use port::{BadDescCount, Port, BURST};
pub use spec::{AfXdpSpec, BindMode, MemSpec, PcapSpec, PortSpec, RxHintsMode};
pub use umems::{UmemSlot, Umems};
