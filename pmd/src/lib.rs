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
//! [`xdp_prog`] is the AF_XDP redirect program and the plain packet counter.
//!
//! Ports are named by devargs strings ([`spec::PortSpec`]).

pub mod af_xdp;
pub mod caps;
pub mod capture;
pub mod clock;
pub mod mem;
pub mod napi;
pub mod netdev;
pub mod pcap;
mod port;
pub mod sched;
pub mod spec;
pub mod xdp_prog;

pub use port::{BadDescCount, Port, PortError, BURST};
pub use spec::{AfXdpSpec, BindMode, MemSpec, PcapSpec, PortSpec};
