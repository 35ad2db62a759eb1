//! What `dataplane gen` is asked to do ([`GenConfig`]) and what it did ([`GenReport`]).

use std::path::PathBuf;
use std::time::Duration;

use pmd::BindMode;

use crate::gen::plan::BadCsum;
use crate::template::{FrameSize, Template};

/// How frames are put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// AF_XDP transmit: in copy mode every frame becomes an skb (about 0.5 Mpps per core
    /// on veth).
    AfXdp,
    /// `BPF_PROG_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES`: the kernel runs the generator's XDP
    /// program ([`prog`]) on copies of a base frame; it turns each into the plan's next frame
    /// and it leaves through the interface's XDP transmit path (millions of frames per second
    /// per core). The receiving side needs an XDP program or GRO. Creates an `ifb` device
    /// (`dpgen<pid>`) for the run: see [`live`].
    Live,
    /// A bench helper, not a product path: the bare live-frames loop (one 60-byte frame, an
    /// XDP_TX program kept attached to an ifb), the reference the live engine is measured
    /// against.
    LiveReference,
}

/// `dataplane gen`'s settings, from its command line.
pub struct GenConfig {
    /// How frames are put on the wire.
    pub engine: Engine,
    /// The interface to send on (`None`: only write `pcap`).
    pub iface: Option<String>,
    /// What the frames are.
    pub template: Template,
    /// Their sizes.
    pub sizes: FrameSize,
    /// `--flows N`: see [`Template::for_flow`].
    pub flows: u32,
    /// `--bad-csum`.
    pub bad_csum: Option<BadCsum>,
    /// Send this many frames, then stop.
    pub count: Option<u64>,
    /// Send this long, then stop.
    pub duration: Option<Duration>,
    /// Frames per second (`None`: as fast as possible).
    pub rate: Option<f64>,
    /// `--burst N` (with a rate): frames leave in back-to-back bursts of N at the average
    /// rate.
    pub burst: Option<u32>,
    /// The transmit queue (af-xdp).
    pub queue: u32,
    /// The AF_XDP bind mode.
    pub mode: BindMode,
    /// Pin the generator to this core.
    pub core: Option<usize>,
    /// Also (or, without an interface, only) write the frames to this capture.
    pub pcap: Option<PathBuf>,
}

/// What a run sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenReport {
    /// Frames that left the interface: completed by the kernel (af-xdp), or accepted by
    /// the veth's XDP transmit, at most what the program generated (live).
    pub sent: u64,
    /// Their bytes, without FCS.
    pub bytes: u64,
    /// How many of them have a bad checksum.
    pub bad_csum: u64,
    /// How long it sent.
    pub seconds: f64,
    /// Live engine: frames its XDP program generated (all CPUs).
    pub generated: Option<u64>,
    /// Live engine: frames the veth's XDP transmit refused (`ethtool -S`), if readable.
    pub xmit_errors: Option<u64>,
    /// How `sent` was counted.
    pub offered_src: &'static str,
    /// The stamps' stream id (live: of the CPU that generated).
    pub stream: Option<u16>,
}

impl GenReport {
    /// The offered rate.
    pub fn pps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.sent as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The offered rate in Gbit/s of frame bytes (without FCS, preamble and gap).
    pub fn gbps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 * 8.0 / self.seconds / 1e9
        } else {
            0.0
        }
    }
}
