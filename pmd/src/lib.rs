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

/// Root-only tests skip without root, unless CI is set (CI runs as root, so there a missing
/// privilege is a failure).
#[cfg(test)]
fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{test} needs root and CI is set, so it must run");
    eprintln!("skipping {test}: needs root");
    false
}

pub use port::{BadDescCount, Port, PortError, BURST};
pub use spec::{AfXdpSpec, BindMode, MemSpec, PcapSpec, PortSpec};
