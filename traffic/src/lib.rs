//! Traffic: the generator and the sink the tests, benchmarks and the lab drive.
//!
//! - [`template`]: the frames (UDP, TCP, VXLAN, GRE, Geneve; IPv4/IPv6; VLAN), built with
//!   every checksum right, and [`gen_match`] builds one that a rule matches.
//! - [`stamp`]: the 18-byte stamp (stream, sequence number, send time) every frame carries.
//! - [`gen`]: `dataplane gen`, live frames from an XDP program in the kernel
//!   (`BPF_PROG_RUN`) or AF_XDP.
//! - [`sink`] and [`sink_prog`]: `dataplane sink`, counting delivered, lost, reordered and
//!   duplicated frames and their latency in the kernel, or frame by frame over AF_XDP.
//! - [`rate`]: rates for people to read.

pub mod gen;
pub mod gen_match;
pub mod rate;
pub mod sink;
pub mod sink_prog;
pub mod stamp;
pub mod template;

pub use gen::GenError;
pub use gen_match::MatchError;
pub use sink::SinkError;
pub use template::TemplateError;
