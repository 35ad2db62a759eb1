//! Why the generator could not send (or write) its frames; each message says what to change.

use std::fmt;
use std::io;
use std::path::PathBuf;

use wire::checks::CsumLayer;

use crate::template::TemplateError;

/// A lower crate's error (pmd's), kept whole as the source.
type BoxedError = Box<dyn std::error::Error + Send + Sync>;

/// What stopped `dataplane gen`.
#[derive(Debug)]
pub enum GenError {
    /// The template cannot build the frames asked for.
    Template(TemplateError),
    /// `--flows 0`.
    NoFlows,
    /// `--bad-csum` outside 0 to 100.
    BadPercent {
        /// The percentage given.
        percent: f64,
    },
    /// `--bad-csum-layer` names a checksum the frames do not have.
    NoSuchChecksum {
        /// The frames, as [`Template::describe`](crate::template::Template::describe) says.
        frames: String,
        /// The layer asked for.
        layer: CsumLayer,
        /// The checksums they have.
        available: Vec<CsumLayer>,
    },
    /// The capture file could not be created.
    CaptureCreate(BoxedError),
    /// A frame could not be written to the capture file.
    CaptureWrite {
        /// The capture file.
        path: PathBuf,
        /// The writer's error.
        source: pcap_file::PcapError,
    },
    /// Neither `--iface` nor `--pcap`.
    NoOutput,
    /// `--core N` the generator could not be pinned to.
    Pin {
        /// The core.
        core: usize,
    },
    /// The interface or its socket (privileges, lookup, AF_XDP bind).
    Port {
        /// The interface.
        iface: String,
        /// pmd's error, which names the interface and the fix.
        source: BoxedError,
    },
    /// The largest frame does not fit the interface's MTU.
    Mtu {
        /// The interface.
        iface: String,
        /// Its MTU.
        mtu: u32,
        /// The largest frame of the plan.
        len: usize,
    },
    /// The UMEM could not be made (memory, locked-memory limit).
    Umem(io::Error),
    /// The transmit kick (`sendto`) failed.
    Kick {
        /// The interface.
        iface: String,
        /// The errno.
        source: io::Error,
    },
    /// The live engine's patch table would hold too many entries.
    TooManyPatches {
        /// `--flows`.
        flows: u32,
        /// Checksum variants per flow.
        variants: u32,
        /// Distinct frame sizes.
        sizes: usize,
        /// Their product.
        entries: u64,
        /// The most the live engine holds.
        max: usize,
    },
    /// Frames of one size differ in more words than the live engine rewrites.
    TooManyWords {
        /// The frames, as [`Template::describe`](crate::template::Template::describe) says.
        frames: String,
        /// The frame size.
        size: usize,
        /// The words that differ.
        words: usize,
        /// The most the live engine rewrites.
        max: usize,
    },
    /// A frame of odd length varies in its last byte, which the program's 16-bit writes miss.
    OddLastByte {
        /// The frame's length.
        len: usize,
    },
    /// A flow builds a frame of another length than flow 0.
    FlowLength {
        /// The flow.
        flow: u32,
        /// Its frame's length.
        got: usize,
        /// Flow 0's.
        len: usize,
    },
    /// The patch table has no slice for a size the plan sends (a bug).
    MissingSize,
    /// A BPF program or map of the live engine.
    Bpf(bpf::Error),
    /// `ip link add NAME type ifb` could not be run.
    IdleDeviceCommand {
        /// The device.
        name: String,
        /// Why `ip` did not start.
        source: io::Error,
    },
    /// `ip link add NAME type ifb` failed.
    IdleDevice {
        /// The device.
        name: String,
        /// What `ip` said.
        stderr: String,
    },
    /// The idle device vanished before it was looked up.
    IdleDeviceLookup {
        /// The device.
        name: String,
        /// pmd's error.
        source: BoxedError,
    },
    /// A live-frames call (`BPF_PROG_RUN`) failed.
    LiveRun {
        /// The interface.
        iface: String,
        /// The bpf(2) error with its errno.
        source: bpf::Error,
    },
    /// The peer took none of the probe frames (no XDP program, no GRO).
    PeerTakesNothing {
        /// The interface.
        iface: String,
        /// The probe frames sent.
        probe: u32,
    },
}

impl fmt::Display for GenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenError::Template(error) => write!(f, "{error}"),
            GenError::NoFlows => f.write_str("--flows 0: give at least 1"),
            GenError::BadPercent { percent } => write!(f, "--bad-csum {percent}: give a percentage from 0 to 100"),
            GenError::NoSuchChecksum { frames, layer, available } => {
                let names: Vec<&str> = available.iter().map(|l| l.name()).collect();
                write!(f, "{frames} frames have no {} checksum; they have: {}", layer.name(), names.join(", "))
            }
            GenError::CaptureCreate(source) => write!(f, "{source}"),
            GenError::CaptureWrite { path, source } => write!(f, "{}: {source}", path.display()),
            GenError::NoOutput => f.write_str("give --iface NAME to send, or --pcap FILE to write a capture"),
            GenError::Pin { core } => write!(f, "could not pin the generator to core {core}"),
            GenError::Port { source, .. } => write!(f, "{source}"),
            GenError::Mtu { iface, mtu, len } => {
                write!(f, "a {len}-byte frame does not fit the MTU of {iface} ({mtu})")
            }
            GenError::Umem(source) => write!(f, "UMEM: {source}"),
            GenError::Kick { iface, source } => write!(f, "sendto on {iface}: {source}"),
            GenError::TooManyPatches { flows, variants, sizes, entries, max } => write!(
                f,
                "--flows {flows} x {variants} checksum variant(s) x {sizes} size(s) = {entries} frame patches; the \
                 live engine holds at most {max}: lower --flows (or use --engine af-xdp)"
            ),
            GenError::TooManyWords { frames, size, words, max } => write!(
                f,
                "{frames} frames of {size} bytes differ from flow to flow in {words} 16-bit words; the live engine \
                 rewrites at most {max}"
            ),
            GenError::OddLastByte { len } => {
                write!(f, "a {len}-byte frame varies in its last, odd byte: the live engine cannot write it")
            }
            GenError::FlowLength { flow, got, len } => {
                write!(f, "flow {flow} builds a {got}-byte frame where flow 0 has {len} bytes")
            }
            GenError::MissingSize => f.write_str("the patch table lacks a frame size"),
            GenError::Bpf(error) => write!(f, "{error}"),
            GenError::IdleDeviceCommand { name, source } => {
                write!(f, "running `ip link add {name} type ifb`: {source}")
            }
            GenError::IdleDevice { name, stderr } => write!(
                f,
                "ip link add {name} type ifb (the idle device the live engine keeps its program on): {stderr}"
            ),
            GenError::IdleDeviceLookup { source, .. } => write!(f, "{source}"),
            GenError::LiveRun { iface, source } => write!(f, "live frames on {iface}: {source}"),
            GenError::PeerTakesNothing { iface, probe } => write!(
                f,
                "the peer of {iface} took none of {probe} probe frames: it needs an XDP program (start the \
                 dataplane or the sink on it first) or GRO (ethtool -K PEER gro on)"
            ),
        }
    }
}

impl std::error::Error for GenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GenError::Template(error) => Some(error),
            GenError::CaptureCreate(source) | GenError::Port { source, .. } => Some(source.as_ref()),
            GenError::IdleDeviceLookup { source, .. } => Some(source.as_ref()),
            GenError::CaptureWrite { source, .. } => Some(source),
            GenError::Umem(source) | GenError::Kick { source, .. } | GenError::IdleDeviceCommand { source, .. } => {
                Some(source)
            }
            GenError::Bpf(error) | GenError::LiveRun { source: error, .. } => Some(error),
            _ => None,
        }
    }
}

impl GenError {
    /// Wraps pmd's error about `iface` (for `map_err`).
    pub(crate) fn port<E: Into<BoxedError>>(iface: &str) -> impl FnOnce(E) -> GenError + '_ {
        move |error| GenError::Port { iface: iface.to_string(), source: error.into() }
    }
}

impl From<TemplateError> for GenError {
    fn from(error: TemplateError) -> Self {
        GenError::Template(error)
    }
}

impl From<bpf::Error> for GenError {
    fn from(error: bpf::Error) -> Self {
        GenError::Bpf(error)
    }
}
