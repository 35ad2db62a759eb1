//! The AF_XDP poll-mode driver.
//!
//! One [`AfXdpDevice`] per interface owns the XSK map and the redirect program, attached
//! through a bpf_link held by this process: when the process dies, however it dies, the
//! kernel closes the link and the interface is left as it was found. One [`AfXdpQueue`] per
//! (interface, queue) owns a socket and implements [`Port`].
//!
//! UMEM sharing: a worker's sockets share one UMEM where the kernel allows it (copy mode
//! always; zero-copy when every device supports it), each socket with its own fill and
//! completion ring, so forwarding from one port to another moves a descriptor and copies no
//! bytes. Where the kernel refuses, the socket gets a UMEM of its own and the worker copies.

mod socket;
pub mod sys;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use umem::{Frame, PoolCache, Umem};

pub use socket::{BindFlags, RingSizes, TxMetadata, UmemOwner, XskSocket, XskStatsReader};
pub use sys::XdpStatistics;

use crate::counters::{CounterSource, PortCounters};
use crate::error::Error;
use crate::netdev;
use crate::port::{BadDescCount, Port, BURST};
use crate::rx_hints::{self, HintCounts, HintKfuncs, RxHints};
use crate::spec::{AfXdpSpec, BindMode, RxHintsMode, ETH_AND_VLAN, XDP_PACKET_HEADROOM};
use crate::umems::Umems;
use crate::xdp_prog;

/// `SO_BUSY_POLL` with preferred busy polling: how long one busy poll may spin in the
/// kernel (xskxceiver's busy-poll test and DPDK's net_af_xdp use 20 µs).
pub const BUSY_POLL_USECS: u32 = 20;

/// An interface prepared for AF_XDP: XSK map and redirect program loaded, attached once
/// every queue's socket is in the map.
pub struct AfXdpDevice {
    spec: AfXdpSpec,
    ifindex: u32,
    /// The interface's receive queues (sockets may cover fewer of them).
    queue_count: u32,
    /// What the program does with frames no socket sees.
    uncovered: xdp_prog::Uncovered,
    xsk_map: bpf::Map,
    program: bpf::Program,
    /// The program reads the device's RX hints (device-bound, [`crate::rx_hints`]).
    hints: Option<HintKfuncs>,
    link: Option<bpf::Link>,
    xdp_mode: Option<bpf::XdpMode>,
}

impl AfXdpDevice {
    /// Checks the interface and loads the program; nothing is attached yet. Frames no
    /// socket sees (not steered, or on a queue without a socket) go to the kernel.
    pub fn open(spec: &AfXdpSpec) -> Result<AfXdpDevice, Error> {
        AfXdpDevice::open_with(spec, xdp_prog::Uncovered::Pass)
    }

    /// [`AfXdpDevice::open`], with `uncovered` for the frames no socket sees: with an ACL,
    /// `Uncovered::Drop` keeps the other RSS queues and unsteered frames from bypassing it.
    pub fn open_with(spec: &AfXdpSpec, uncovered: xdp_prog::Uncovered) -> Result<AfXdpDevice, Error> {
        netdev::check_privileges()?;
        netdev::raise_memlock_limit();
        let mut spec = spec.clone();
        spec.resolve_queues()?;
        let spec = &spec;
        let ifindex = netdev::ifindex(&spec.iface)?;
        let queue_count = netdev::rx_queue_count(&spec.iface).unwrap_or(1);
        if let Some(&queue) = spec.queues.iter().find(|&&q| q >= queue_count) {
            return Err(Error::QueueOutOfRange { iface: spec.iface.clone(), queue, queue_count });
        }
        // Multi-buffer: as written, else exactly when one chunk cannot hold an MTU-sized frame.
        let mut mb = spec.mb.unwrap_or(false);
        if let Some(mtu) = netdev::mtu(&spec.iface) {
            let room = spec.frame_size - XDP_PACKET_HEADROOM;
            let needs_mb = AfXdpSpec::needs_mb(mtu, spec.frame_size);
            let too_large = |mb| Error::MtuTooLarge {
                iface: spec.iface.clone(),
                mtu,
                frame_size: spec.frame_size,
                room,
                larger_frame_fits: spec.frame_size < 4096 && !AfXdpSpec::needs_mb(mtu, 4096),
                mb,
            };
            if needs_mb && spec.mb == Some(false) {
                return Err(too_large(Some(false)));
            }
            if needs_mb && mtu + ETH_AND_VLAN > umem::MAX_PIECES as u32 * room {
                return Err(too_large(spec.mb));
            }
            mb = spec.mb.unwrap_or(needs_mb);
            if mb {
                eprintln!(
                    "af_xdp {}: multi-buffer on (MTU {mtu}; {room} bytes per {}-byte chunk): larger frames \
                     arrive and leave as several chunks",
                    spec.iface, spec.frame_size
                );
            }
        }
        let mut spec = spec.clone();
        spec.mb = Some(mb);
        let spec = &spec;
        let max_queue = spec.queues.iter().copied().max().unwrap_or(0);
        let xsk_map = bpf::Map::create(bpf::MapType::XskMap, "xsks", 4, 4, max_queue + 1)?;
        let mut device = AfXdpDevice {
            spec: spec.clone(),
            ifindex,
            queue_count,
            uncovered,
            program: load_redirect(&xsk_map, spec, uncovered, None)?,
            xsk_map,
            hints: None,
            link: None,
            xdp_mode: None,
        };
        if spec.rx_hints != RxHintsMode::Off {
            match device.load_hinted() {
                Ok((program, kfuncs)) => {
                    device.program = program;
                    device.hints = Some(kfuncs);
                }
                Err(reason) => device.no_hints(reason)?,
            }
        }
        Ok(device)
    }

    /// The redirect program with the hint writer, loaded bound to the device: the kernel's
    /// BTF must have the metadata kfuncs and the device must take a device-bound program.
    fn load_hinted(&self) -> Result<(bpf::Program, HintKfuncs), String> {
        let btf = bpf::Btf::vmlinux().map_err(|err| format!("the kernel's BTF cannot be read ({err})"))?;
        let kfuncs = HintKfuncs::resolve(&btf);
        if kfuncs.is_empty() {
            return Err(format!(
                "the kernel has no XDP metadata kfuncs ({} and the others came in Linux 6.3)",
                rx_hints::KFUNC_TIMESTAMP
            ));
        }
        // Which of them the device implements (Linux 6.8+ says, through the netdev netlink
        // family): the program calls only those. A kernel that does not say gets all.
        let kfuncs = match crate::netdev_genl::xdp_rx_metadata_features(self.ifindex) {
            Ok(Some(0)) => {
                return Err("its driver implements none of the XDP metadata kfuncs (no xdp_metadata_ops)".into())
            }
            Ok(Some(features)) => kfuncs.implemented_by(features),
            Ok(None) | Err(_) => kfuncs,
        };
        let program = load_redirect(&self.xsk_map, &self.spec, self.uncovered, Some((&kfuncs, self.ifindex)))
            .map_err(|err| format!("the kernel refused the device-bound program ({err})"))?;
        Ok((program, kfuncs))
    }

    /// Without hints: an error under `rx_hints=1`, else the one line that says so.
    fn no_hints(&mut self, reason: String) -> Result<(), Error> {
        self.hints = None;
        if self.spec.rx_hints == RxHintsMode::On {
            return Err(Error::RxHintsUnavailable { iface: self.spec.iface.clone(), reason });
        }
        eprintln!("dataplane: {}: no RX hints: {reason}", self.spec.iface);
        Ok(())
    }

    /// The metadata kfuncs the program calls, when it reads RX hints.
    pub fn rx_hints(&self) -> Option<HintKfuncs> {
        self.hints
    }

    /// The interface's receive queues that get no socket: their frames never reach the
    /// dataplane (RSS spreads flows over every queue).
    pub fn queues_without_socket(&self) -> Vec<u32> {
        (0..self.queue_count).filter(|q| !self.spec.queues.contains(q)).collect()
    }

    /// What the program does with frames no socket sees.
    pub fn uncovered(&self) -> xdp_prog::Uncovered {
        self.uncovered
    }

    /// Detaches the program (drops the bpf_link): the interface is as it was found. Call
    /// it before the sockets close, so no frame meets a program whose map lost its socket.
    pub fn detach(&mut self) {
        self.link = None;
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.spec.iface
    }

    /// Whether its sockets receive (and send) frames of several chunks (`mb=`, resolved).
    pub fn multi_buffer(&self) -> bool {
        self.spec.mb == Some(true)
    }

    /// The spec the device was opened with (`queues=all` and `mb=` resolved).
    pub fn spec(&self) -> &AfXdpSpec {
        &self.spec
    }

    /// How the program is attached (after [`AfXdpDevice::attach`]).
    pub fn xdp_mode(&self) -> Option<bpf::XdpMode> {
        self.xdp_mode
    }

    /// Opens the socket of `queue` on one of the worker's UMEMs and enters it in the XSK
    /// map. Returns the port and the index of the UMEM slot its frames live in.
    pub fn open_queue(&self, queue: u32, umems: &mut Umems) -> Result<(AfXdpQueue, usize), Error> {
        let ring = self.spec.ring_size;
        let sizes = RingSizes { fill: ring, comp: ring, rx: ring, tx: ring };
        let mut slot_index = None;
        let (mb, tx_metadata) = (self.multi_buffer(), self.spec.tx_metadata());
        // Share a UMEM some socket of this worker registered already, with the multi-buffer
        // setting and TX metadata this port wants (the kernel takes `XDP_USE_SG` and the
        // metadata length from the UMEM's owner, for every socket on it).
        let shares = |s: &crate::umems::UmemSlot| {
            s.xsk_owner.as_ref().is_some_and(|o| o.sg() == mb && o.tx_metadata().0 == tx_metadata)
        };
        if let Some(index) = umems.slots.iter().position(shares) {
            let slot = &umems.slots[index];
            let owner = slot.xsk_owner.clone().expect("position() checked");
            match XskSocket::create(&slot.umem, self.ifindex, queue, sizes, BindFlags::Shared(owner)) {
                Ok(socket) => return self.finish_queue(socket, queue, index, umems),
                Err(source) if source.raw_os_error() == Some(libc::EBUSY) => {
                    return Err(Error::Bind { iface: self.spec.iface.clone(), queue, source })
                }
                Err(err) => {
                    eprintln!(
                        "af_xdp {}/q{queue}: the kernel would not share the UMEM ({err}); this queue gets a \
                         UMEM of its own and forwarding to it copies frames",
                        self.spec.iface
                    );
                    slot_index = Some(umems.add()?);
                }
            }
        }
        let index = match slot_index {
            Some(index) => index,
            None => match umems.slots.iter().position(|s| s.xsk_owner.is_none()) {
                Some(index) => index,
                None => {
                    if umems.slots.iter().any(|s| s.xsk_owner.is_some()) {
                        eprintln!(
                            "af_xdp {}/q{queue}: multi-buffer {} and TX metadata {} here differ from the worker's \
                             other AF_XDP ports: this queue gets a UMEM of its own and forwarding to it copies frames",
                            self.spec.iface,
                            if mb { "on" } else { "off" },
                            if tx_metadata == TxMetadata::Off { "off" } else { "on" }
                        );
                    }
                    umems.add()?
                }
            },
        };
        let socket = open_owner_socket(
            &umems.slots[index].umem,
            &self.spec.iface,
            self.ifindex,
            queue,
            sizes,
            (self.spec.mode, tx_metadata),
            mb,
        )?;
        umems.slots[index].xsk_owner = socket.umem_owner();
        self.finish_queue(socket, queue, index, umems)
    }

    fn finish_queue(
        &self,
        socket: XskSocket,
        queue: u32,
        slot_index: usize,
        umems: &mut Umems,
    ) -> Result<(AfXdpQueue, usize), Error> {
        self.xsk_map.update(&queue.to_ne_bytes(), &socket.raw_fd().to_ne_bytes())?;
        // Copy mode sends from inside sendto(), 32 frames per call by default; a budget as
        // large as a burst halves the syscalls (Linux 6.17+; older kernels refuse, harmlessly).
        if !socket.zerocopy() {
            let _ = socket.set_tx_budget((2 * BURST) as u32);
        }
        let busy_poll = if self.spec.busy_poll > 0 { self.enable_busy_poll(&socket, queue) } else { BusyPoll::Off };
        let slot = &mut umems.slots[slot_index];
        let name = format!("af_xdp:{}/q{queue}", self.spec.iface);
        if socket.sg() {
            // Continuation chunks of the packets the worker holds are kept by its pool.
            slot.pool.enable_chains(slot.umem.frame_count());
        }
        let offload = self.tx_csum_notice(&socket, &name);
        let mut port = AfXdpQueue::new(socket, slot.umem.clone(), name);
        if offload {
            port = port.with_tx_csum_offload();
        }
        port.busy_poll = busy_poll;
        if self.hints.is_some() {
            port.enable_rx_hints();
        }
        port.prime_fill_ring(&mut slot.pool);
        Ok((port, slot_index))
    }

    /// Under `--csum offload`: one line saying how this queue's checksum requests leave,
    /// and whether they go to the device at all (true) or are completed in software first
    /// (`--csum lco` for this port).
    fn tx_csum_notice(&self, socket: &XskSocket, name: &str) -> bool {
        let (asked, got) = socket.tx_metadata();
        if asked == TxMetadata::Off {
            return false;
        }
        let why = if let Some(err) = socket.tx_metadata_refused() {
            format!(
                "the kernel refused a UMEM with TX metadata ({err}; XDP_UMEM_TX_METADATA_LEN needs Linux 6.11, or \
                 6.8+ with its stable fix)"
            )
        } else if got == TxMetadata::Off {
            "its UMEM was registered without TX metadata".to_string()
        } else if socket.zerocopy() {
            // A zero-copy driver acts on the request only if it implements the metadata
            // operations; the kernel says so as netdev's xsk-features (tx-checksum).
            match crate::netdev_genl::xsk_features(self.ifindex) {
                Ok(features) if features & crate::netdev_genl::XSK_FLAGS_TX_CHECKSUM != 0 => {
                    eprintln!(
                        "dataplane: {name}: L4 checksums requested through AF_XDP TX metadata; zero-copy: the \
                         driver completes them (xsk-features tx-checksum)"
                    );
                    return true;
                }
                Ok(_) => "zero-copy, and the driver does not complete TX checksum requests (its xsk-features \
                          lack tx-checksum)"
                    .to_string(),
                Err(err) => format!(
                    "zero-copy, and the kernel did not say whether the driver completes TX checksum requests \
                     (netdev xsk-features: {err})"
                ),
            }
        } else {
            let by = if got == TxMetadata::ChecksumInSoftware {
                "the kernel computes each on the CPU (tx_sw_csum=1)"
            } else {
                "the skb leaves CHECKSUM_PARTIAL: the device, or skb_checksum_help where it has no checksum offload"
            };
            eprintln!("dataplane: {name}: L4 checksums requested through AF_XDP TX metadata; {by}");
            return true;
        };
        eprintln!("dataplane: {name}: no checksum offload: {why}; --csum lco for this port");
        false
    }

    /// Sets the busy-poll options (they need CAP_NET_ADMIN, so here at setup) and tells
    /// whether busy polling can drive this queue: only where the socket has a NAPI id.
    fn enable_busy_poll(&self, socket: &XskSocket, queue: u32) -> BusyPoll {
        let iface = &self.spec.iface;
        if let Err(err) = socket.set_busy_poll(BUSY_POLL_USECS, self.spec.busy_poll) {
            eprintln!("dataplane: busy polling unavailable on {iface} queue {queue}: {err}");
            return BusyPoll::Off;
        }
        match socket.napi_id() {
            Ok(id) if id != 0 => {
                eprintln!(
                    "dataplane: busy polling on {iface} queue {queue} (NAPI id {id}, budget {}, {BUSY_POLL_USECS} µs)",
                    self.spec.busy_poll
                );
                BusyPoll::On
            }
            _ => {
                eprintln!(
                    "dataplane: busy polling unavailable on {iface} queue {queue}: no NAPI id (asked again after \
                     the first frames)"
                );
                BusyPoll::AskAfterFirstFrames
            }
        }
    }

    /// Attaches the program (driver mode, else generic with a message). Until then the
    /// interface's traffic is untouched.
    ///
    /// A program with RX hints is device-bound, which the kernel attaches in driver mode
    /// only: where that fails, the program without hints is attached instead (with a line
    /// saying so), or under `rx_hints=1` the attach fails.
    pub fn attach(&mut self) -> Result<bpf::XdpMode, Error> {
        if let Some(kfuncs) = self.hints {
            match bpf::Link::attach_xdp(&self.program, self.ifindex, bpf::XdpMode::Driver) {
                Ok(link) => {
                    eprintln!(
                        "dataplane: {}: RX hints on ({}; device-bound program, driver mode)",
                        self.spec.iface,
                        kfuncs.names().join(", ")
                    );
                    self.link = Some(link);
                    self.xdp_mode = Some(bpf::XdpMode::Driver);
                    return Ok(bpf::XdpMode::Driver);
                }
                Err(err) => {
                    self.no_hints(format!("the device-bound program does not attach in driver mode ({err})"))?;
                    self.program = load_redirect(&self.xsk_map, &self.spec, self.uncovered, None)?;
                }
            }
        }
        let (link, mode) = bpf::Link::attach_xdp_auto(&self.program, self.ifindex)
            .map_err(|source| Error::Attach { iface: self.spec.iface.clone(), source })?;
        self.link = Some(link);
        self.xdp_mode = Some(mode);
        Ok(mode)
    }
}

/// Loads the redirect program on `xsk_map`; with `hints` (the kfuncs and the device), the
/// hint writer too, bound to that device.
fn load_redirect(
    xsk_map: &bpf::Map,
    spec: &AfXdpSpec,
    uncovered: xdp_prog::Uncovered,
    hints: Option<(&HintKfuncs, u32)>,
) -> Result<bpf::Program, Error> {
    let on_match = xdp_prog::OnMatch::Redirect(xsk_map.raw_fd());
    let insns = xdp_prog::steer_program_hinted(&spec.steer, on_match, uncovered, hints.map(|(kfuncs, _)| kfuncs));
    let mut options = hints.map_or_else(bpf::LoadOptions::default, |(_, ifindex)| bpf::LoadOptions::dev_bound(ifindex));
    // The program reads only the linear head of a frame (every header it steers by, and
    // the hints in front of it), so it is sound for multi-buffer frames: say so, or a
    // native-XDP veth refuses it above a page of MTU and drivers drop such frames.
    if spec.mb == Some(true) {
        options.flags |= bpf::LoadOptions::XDP_HAS_FRAGS;
    }
    Ok(bpf::Program::load_with(bpf::ProgType::Xdp, "xsk_redirect", &insns, &options)?)
}

/// Creates the socket that registers `umem` (with `tx_metadata`): zero-copy first under
/// `mode=auto`, then copy; with `XDP_USE_SG` when `sg` (multi-buffer; copy mode takes it on
/// every device, zero-copy only where the driver can).
pub fn open_owner_socket(
    umem: &Umem,
    iface: &str,
    ifindex: u32,
    queue: u32,
    sizes: RingSizes,
    (mode, tx_metadata): (BindMode, TxMetadata),
    sg: bool,
) -> Result<XskSocket, Error> {
    let try_bind =
        |zerocopy| XskSocket::create(umem, ifindex, queue, sizes, BindFlags::Owner { zerocopy, sg, tx_metadata });
    let bound = match mode {
        BindMode::Copy => try_bind(false),
        BindMode::ZeroCopy => match try_bind(true) {
            Err(source) if matches!(source.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)) => {
                return Err(Error::NoZeroCopy { iface: iface.to_string(), queue, source })
            }
            other => other,
        },
        BindMode::Auto => match try_bind(true) {
            Err(err) if err.raw_os_error() != Some(libc::EBUSY) => try_bind(false),
            other => other,
        },
    };
    bound.map_err(|source| Error::Bind { iface: iface.to_string(), queue, source })
}

/// The device's part of a checksum request, done on the CPU (as the kernel's
/// `skb_checksum_help`), and the request withdrawn.
#[cold]
fn complete_in_software(umem: &Umem, frame: &mut Frame) {
    let request = frame.tx_csum();
    let request = wire::checks::L4Request { start: request.start(), offset: request.offset() };
    wire::checks::complete(umem.data_mut(frame), request);
    frame.set_tx_csum(umem::TxCsum::NONE);
}

/// Whether the worker drives a queue by preferred busy polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyPoll {
    /// Not asked for (`busy_poll=0`), or the kernel refused the options.
    Off,
    /// The socket had no NAPI id at bind: asked once more when the first frames arrive
    /// (the kernel learns it from the first frame it redirects).
    AskAfterFirstFrames,
    /// `recvfrom`/`sendto` every poll drive the device's NAPI from the worker.
    On,
}

/// One AF_XDP socket as a [`Port`].
pub struct AfXdpQueue {
    /// Preferred busy polling on this queue.
    busy_poll: BusyPoll,
    socket: XskSocket,
    umem: Arc<Umem>,
    name: String,
    /// Scratch for completions and fill-ring refills; sized once, never grows.
    scratch: Vec<Frame>,
    /// Frames handed to the tx ring and not yet back on the completion ring.
    tx_outstanding: usize,
    /// Frames given to the fill ring and not yet back on the rx ring.
    fill_outstanding: u32,
    /// How many frames the kernel should hold for receiving: half the fill ring (see
    /// [`AfXdpQueue::refill`]).
    fill_target: u32,
    /// Refused descriptors already handed to the worker by `take_bad_descs`.
    bad_reported: BadDescCount,
    /// The UMEM has TX metadata: every frame sent needs that much room before its data
    /// (the kernel refuses a descriptor whose metadata would leave the chunk); 0 otherwise.
    tx_metadata_len: usize,
    /// Checksum requests go to the device as TX metadata (copy mode, metadata registered).
    tx_csum_offload: bool,
    /// The program writes RX hints: read them in front of every received frame.
    hints_on: bool,
    /// The hints of the frames the last `rx_burst` received, in their order.
    last_hints: Vec<Option<RxHints>>,
    /// Frames that carried each hint, and their copy for the control thread.
    hint_counts: HintCounts,
    shared_hint_counts: Arc<SharedHintCounts>,
}

/// A queue's [`HintCounts`] where the control thread can read them: one writer (the worker,
/// plain stores of its running totals after a burst), any readers.
#[derive(Debug, Default)]
pub struct SharedHintCounts {
    with_metadata: AtomicU64,
    timestamp: AtomicU64,
    xdp_time: AtomicU64,
    hash: AtomicU64,
    vlan: AtomicU64,
}

impl SharedHintCounts {
    #[inline]
    fn publish(&self, counts: &HintCounts) {
        self.with_metadata.store(counts.with_metadata, Ordering::Relaxed);
        self.timestamp.store(counts.timestamp, Ordering::Relaxed);
        self.xdp_time.store(counts.xdp_time, Ordering::Relaxed);
        self.hash.store(counts.hash, Ordering::Relaxed);
        self.vlan.store(counts.vlan, Ordering::Relaxed);
    }

    /// The counts last published.
    pub fn read(&self) -> HintCounts {
        HintCounts {
            with_metadata: self.with_metadata.load(Ordering::Relaxed),
            timestamp: self.timestamp.load(Ordering::Relaxed),
            xdp_time: self.xdp_time.load(Ordering::Relaxed),
            hash: self.hash.load(Ordering::Relaxed),
            vlan: self.vlan.load(Ordering::Relaxed),
        }
    }
}

/// An AF_XDP queue's counters: the kernel's `XDP_STATISTICS`, and with RX hints on, how
/// many frames carried each.
#[derive(Debug)]
struct QueueCounters {
    xsk: XskStatsReader,
    hints: Option<Arc<SharedHintCounts>>,
}

impl CounterSource for QueueCounters {
    fn read(&self) -> io::Result<PortCounters> {
        let mut counters = CounterSource::read(&self.xsk)?;
        counters.rx_hints = self.hints.as_ref().map(|h| h.read());
        Ok(counters)
    }
}

impl AfXdpQueue {
    /// A port over a bound socket whose frames live in `umem`; `name` is for messages
    /// (`af_xdp:dut0/q0`). Prime its fill ring before the first receive.
    pub fn new(socket: XskSocket, umem: Arc<Umem>, name: String) -> AfXdpQueue {
        let capacity = socket.fill.size().max(socket.comp.size()) as usize;
        let fill_target = socket.fill.size() / 2;
        let tx_metadata_len = if socket.tx_metadata().1 == TxMetadata::Off { 0 } else { sys::TX_METADATA_LEN };
        AfXdpQueue {
            busy_poll: BusyPoll::Off,
            socket,
            umem,
            name,
            scratch: Vec::with_capacity(capacity),
            tx_outstanding: 0,
            fill_outstanding: 0,
            fill_target,
            bad_reported: BadDescCount::default(),
            tx_metadata_len,
            tx_csum_offload: false,
            hints_on: false,
            last_hints: Vec::new(),
            hint_counts: HintCounts::default(),
            shared_hint_counts: Arc::default(),
        }
    }

    /// Passes frames' checksum requests to the device as TX metadata. Only for a socket
    /// whose UMEM has TX metadata (else nothing changes).
    pub fn with_tx_csum_offload(mut self) -> AfXdpQueue {
        if self.tx_metadata_len >= sys::TX_METADATA_LEN {
            self.tx_csum_offload = true;
            self.socket.tx = self.socket.tx.take().map(umem::TxRing::with_tx_metadata);
        }
        self
    }

    /// Before a burst goes to the tx ring of a UMEM with TX metadata: room for the metadata
    /// in front of every frame (the data moved further into its chunk where a frame has
    /// less), then each checksum request written there, last of all, so nothing between
    /// the engine and the ring (an encapsulation grows into the headroom) can overwrite it.
    /// A request this port does not pass on, or one the kernel would refuse, is completed
    /// here instead. Returns how many frames from the front can go (all but a frame that
    /// fills its chunk, which cannot have the room; it and those after stay).
    #[inline]
    fn prepare_tx(&mut self, frames: &mut [Frame]) -> usize {
        for (i, frame) in frames.iter_mut().enumerate() {
            if self.tx_metadata_len > 0 && !self.umem.reserve_headroom(frame, self.tx_metadata_len) {
                return i;
            }
            let request = frame.tx_csum();
            if !request.is_some() {
                continue;
            }
            let fits = request.start() + request.offset() + 2 <= frame.len();
            if self.tx_csum_offload && fits {
                let meta = sys::XskTxMetadata {
                    flags: sys::XDP_TXMD_FLAGS_CHECKSUM,
                    csum_start: request.start() as u16,
                    csum_offset: request.offset() as u16,
                    reserved: 0,
                    launch_time: 0,
                };
                if let Some(room) = self.umem.headroom_mut(frame, sys::TX_METADATA_LEN) {
                    room.copy_from_slice(bytemuck::bytes_of(&meta));
                    continue;
                }
            }
            complete_in_software(&self.umem, frame);
        }
        frames.len()
    }

    /// Reads the RX hints the redirect program writes in front of each received frame
    /// ([`crate::rx_hints`]); only for a socket whose device's program writes them.
    pub fn enable_rx_hints(&mut self) {
        self.hints_on = true;
        let rx_entries = self.socket.rx.as_ref().map_or(0, |rx| rx.size()) as usize;
        self.last_hints = Vec::with_capacity(rx_entries.max(BURST));
    }

    /// Whether this queue reads RX hints.
    pub fn rx_hints_on(&self) -> bool {
        self.hints_on
    }

    /// The hints of the frames the last [`Port::rx_burst`] appended, in the same order
    /// (`None`: that frame had none); empty with hints off.
    pub fn last_rx_hints(&self) -> &[Option<RxHints>] {
        &self.last_hints
    }

    /// Frames that carried each hint so far.
    pub fn rx_hint_counts(&self) -> HintCounts {
        self.hint_counts
    }

    /// Reads and counts the hints of `frames` (just received; none: the last burst's go).
    #[inline]
    fn read_hints(&mut self, frames: &mut [Frame]) {
        self.last_hints.clear();
        if frames.is_empty() {
            return;
        }
        for frame in frames {
            let hints = self.umem.headroom_mut(frame, rx_hints::HINTS_LEN).and_then(rx_hints::take);
            if let Some(hints) = &hints {
                self.hint_counts.count(hints);
            }
            // Within the capacity reserved (the rx ring's size): no allocation.
            if self.last_hints.len() < self.last_hints.capacity() {
                self.last_hints.push(hints);
            }
        }
        self.shared_hint_counts.publish(&self.hint_counts);
    }

    /// The socket (its rings, its `XDP_STATISTICS`).
    pub fn socket(&self) -> &XskSocket {
        &self.socket
    }

    /// Whether busy polling drives this queue.
    pub fn busy_poll(&self) -> BusyPoll {
        self.busy_poll
    }

    /// Once, at the first frames of a queue that had no NAPI id at bind.
    #[cold]
    fn ask_napi_id_again(&mut self) {
        match self.socket.napi_id() {
            Ok(id) if id != 0 => {
                eprintln!("dataplane: busy polling on {} from now on: NAPI id {id} after the first frames", self.name);
                self.busy_poll = BusyPoll::On;
            }
            _ => {
                eprintln!("dataplane: {}: still no NAPI id after the first frames: no busy polling", self.name);
                self.busy_poll = BusyPoll::Off;
            }
        }
    }

    /// Gives the kernel its share of empty frames to receive into.
    pub fn prime_fill_ring(&mut self, pool: &mut PoolCache) {
        self.refill(pool);
    }

    /// Tops the kernel's empty frames up to half the fill ring.
    ///
    /// Why half: the kernel reads the fill ring in batches and publishes its consumer index
    /// only when it comes back for more. A ring kept full is seen whole at one visit, and
    /// until the kernel has used all of it user space sees no free slot, so the next visit
    /// finds nothing and frames are dropped (`rx_fill_ring_empty_descs`). With half the ring
    /// outstanding, user space always has room to refill while the kernel works through its
    /// batch (DPDK's af_xdp PMD fills half for the same reason).
    #[inline]
    fn refill(&mut self, pool: &mut PoolCache) {
        // Frames the kernel already put in the rx ring are not empty frames it can receive
        // into: count only what it still holds for receiving, or a backlog in the rx ring
        // (a worker busy transmitting) would starve the fill ring.
        let waiting = self.socket.rx.as_ref().map_or(0, |rx| rx.known_waiting());
        let held_for_receive = self.fill_outstanding.saturating_sub(waiting);
        let want = self.fill_target.saturating_sub(held_for_receive);
        if want >= BURST as u32 / 2 || self.fill_outstanding == 0 {
            let batch = self.socket.fill.reserve(want);
            if batch.capacity() > 0 {
                pool.get_many(&mut self.scratch, batch.capacity() as usize);
                self.fill_outstanding += batch.commit_from(&mut self.scratch) as u32;
                pool.put_all(&mut self.scratch);
            }
        }
        // Under busy polling rx_burst's recvfrom already woke the kernel this poll.
        if self.socket.fill.needs_wakeup() && self.busy_poll != BusyPoll::On {
            self.socket.kick_rx();
        }
    }

    #[inline]
    fn reclaim(&mut self, pool: &mut PoolCache) {
        let batch = self.socket.comp.peek(self.socket.comp.size());
        // Every completion the kernel wrote ends one send, refused or not; a kernel that
        // completes more than was sent cannot drive the count below zero.
        let completed = batch.len() as usize;
        batch.commit_into(&mut self.scratch);
        self.tx_outstanding = self.tx_outstanding.saturating_sub(completed);
        pool.put_all(&mut self.scratch);
    }

    #[inline]
    fn kick_tx_if_needed(&mut self) {
        let Some(tx) = &self.socket.tx else { return };
        // Busy polling: the kernel transmits (and completes) only inside sendto, whatever
        // the need-wakeup flag says, so every poll with frames outstanding calls it
        // (samples' xdpsock and DPDK's net_af_xdp do the same under busy polling).
        let busy = self.busy_poll == BusyPoll::On && self.tx_outstanding > 0;
        if busy || (tx.needs_wakeup() && tx.in_flight() > 0) {
            if let Err(err) = self.socket.kick_tx() {
                // Not transient (the device went away?): say so; the frames stay accounted
                // for as outstanding.
                eprintln!("{}: transmit wakeup failed: {err}", self.name);
            }
        }
    }

    /// Sends nothing new; waits up to `timeout` for outstanding frames to complete.
    pub fn drain(&mut self, pool: &mut PoolCache, timeout: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.tx_outstanding > 0 && start.elapsed() < timeout {
            self.kick_tx_if_needed();
            self.reclaim(pool);
            if self.tx_outstanding > 0 {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }
}

impl Port for AfXdpQueue {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    #[inline]
    fn rx_burst(&mut self, pool: &mut PoolCache, out: &mut Vec<Frame>, max: usize) -> usize {
        // Busy polling: recvfrom(MSG_DONTWAIT) runs the device's NAPI in this thread, which
        // fills the rx ring; then the ring is read (the order of xdpsock's rx path under busy
        // polling: wake, then peek).
        if self.busy_poll == BusyPoll::On {
            self.socket.kick_rx();
        }
        let sg = self.socket.sg();
        let first = out.len();
        let (received, consumed) = match &mut self.socket.rx {
            Some(rx) if sg => {
                let got = rx.receive_packets(out, max as u32, pool);
                (got.packets, got.descs)
            }
            Some(rx) => {
                let batch = rx.peek(max as u32);
                let consumed = batch.len();
                (batch.commit_into(out), consumed)
            }
            None => (0, 0),
        };
        // One branch a burst when hints are off.
        if self.hints_on {
            self.read_hints(&mut out[first..]);
        }
        // Each rx descriptor, good or refused, used up one fill entry; a kernel that
        // returns more than it was given cannot drive the count below zero.
        self.fill_outstanding = self.fill_outstanding.saturating_sub(consumed);
        // Refill right after taking frames out, with what is left in the rx ring known.
        self.refill(pool);
        if consumed > 0 && self.busy_poll == BusyPoll::AskAfterFirstFrames {
            self.ask_napi_id_again();
        }
        received
    }

    #[inline]
    fn tx_burst(&mut self, pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize {
        self.reclaim(pool);
        // Without TX metadata this port does not offload, so its caller completed every
        // request already ([`Port::tx_csum_offload`]): nothing to prepare.
        debug_assert!(self.tx_metadata_len > 0 || frames.iter().all(|f| !f.tx_csum().is_some()));
        let ready = if self.tx_metadata_len > 0 { self.prepare_tx(frames) } else { frames.len() };
        // A frame that cannot have its metadata room: those before it go, it and the rest
        // stay with the caller (counted as not taken).
        let sg = self.socket.sg();
        let (sent, descs) = match &mut self.socket.tx {
            // Each chunk of a multi-buffer packet is a descriptor and comes back on its own.
            Some(tx) if sg => {
                let count = tx.send_packets_from(frames, pool, ready);
                (count.packets, count.descs)
            }
            Some(tx) => {
                let sent = if ready == frames.len() {
                    tx.send_from(frames)
                } else {
                    tx.reserve(ready as u32).commit_from(frames)
                };
                (sent, sent)
            }
            None => (0, 0),
        };
        self.tx_outstanding += descs;
        self.kick_tx_if_needed();
        sent
    }

    fn poll(&mut self, pool: &mut PoolCache) {
        self.reclaim(pool);
        self.kick_tx_if_needed();
    }

    fn tx_pending(&self) -> usize {
        self.tx_outstanding
    }

    fn finish(&mut self, pool: &mut PoolCache) -> io::Result<()> {
        self.drain(pool, std::time::Duration::from_millis(500));
        Ok(())
    }

    fn counters(&self) -> Option<Box<dyn CounterSource>> {
        let hints = self.hints_on.then(|| self.shared_hint_counts.clone());
        Some(Box::new(QueueCounters { xsk: self.socket.stats_reader(), hints }))
    }

    fn zerocopy(&self) -> bool {
        self.socket.zerocopy()
    }

    fn tx_csum_offload(&self) -> bool {
        self.tx_csum_offload
    }

    fn take_bad_descs(&mut self) -> BadDescCount {
        let mb = self.socket.rx.as_ref().map(|rx| rx.mb()).unwrap_or_default();
        let now = BadDescCount {
            rx: self.socket.rx.as_ref().map_or(0, |rx| rx.bad_descs().total()),
            completion: self.socket.comp.bad_descs().total(),
            mb_incomplete: mb.incomplete,
            mb_too_many: mb.too_many,
        };
        let new = BadDescCount {
            rx: now.rx - self.bad_reported.rx,
            completion: now.completion - self.bad_reported.completion,
            mb_incomplete: now.mb_incomplete - self.bad_reported.mb_incomplete,
            mb_too_many: now.mb_too_many - self.bad_reported.mb_too_many,
        };
        self.bad_reported = now;
        new
    }

    fn rx_lent(&self) -> usize {
        self.fill_outstanding as usize
    }
}
