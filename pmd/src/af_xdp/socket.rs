//! One AF_XDP socket: its four rings over the shared UMEM.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use umem::ring::RingOffsets;
use umem::{CompRing, FillRing, RingRegion, RxRing, TxRing, Umem};

use super::sys::{self, XdpStatistics};
use crate::counters::{CounterSource, PortCounters};

/// How long a bind waits for a queue that another socket is still letting go of.
const BUSY_QUEUE_GRACE: Duration = Duration::from_millis(500);

/// Ring sizes in entries (powers of two); 0 for rx or tx means "no such ring".
#[derive(Clone, Copy, Debug)]
pub struct RingSizes {
    /// Fill ring: empty frames for the kernel to receive into.
    pub fill: u32,
    /// Completion ring: sent frames handed back.
    pub comp: u32,
    /// Rx ring: received frames (0: a socket that only sends).
    pub rx: u32,
    /// Tx ring: frames to send (0: a socket that only receives).
    pub tx: u32,
}

/// Whether a UMEM is registered with room for TX metadata (`--csum offload`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TxMetadata {
    /// None: no frame carries metadata.
    #[default]
    Off,
    /// `tx_metadata_len` = `sizeof(struct xsk_tx_metadata)` (`XDP_UMEM_TX_METADATA_LEN`):
    /// frames may ask for a checksum.
    Checksum,
    /// As `Checksum`, with `XDP_UMEM_TX_SW_CSUM`: the kernel completes requested checksums
    /// on the CPU (copy mode; `tx_sw_csum=1`, for testing).
    ChecksumInSoftware,
}

/// How the socket was bound.
#[derive(Clone, Debug)]
pub enum BindFlags {
    /// The first socket of a UMEM: registers it; `XDP_COPY` or `XDP_ZEROCOPY`.
    Owner {
        /// Bind with `XDP_ZEROCOPY` (else `XDP_COPY`).
        zerocopy: bool,
        /// Bind with `XDP_USE_SG` (multi-buffer); every socket sharing the UMEM inherits it.
        sg: bool,
        /// Register the UMEM with TX metadata (a kernel that refuses gets it without: see
        /// [`XskSocket::tx_metadata`]).
        tx_metadata: TxMetadata,
    },
    /// Shares the UMEM registered by `owner` (its own fill and completion rings); the
    /// kernel takes copy/zero-copy and need-wakeup from the owner.
    Shared(UmemOwner),
}

/// The socket that registered a UMEM, as another socket names it to share that UMEM. Only
/// [`XskSocket::umem_owner`] makes one, so it always says truly which UMEM the kernel will
/// use: [`XskSocket::create`] refuses to share it under rings of another UMEM (the kernel
/// would receive into chunks of one area that user space holds tokens for in the other).
#[derive(Clone)]
pub struct UmemOwner {
    fd: Arc<OwnedFd>,
    umem_id: u32,
    sg: bool,
    /// What the owner asked the registration for, and what it got.
    tx_metadata: (TxMetadata, TxMetadata),
}

impl UmemOwner {
    /// The owner socket's file descriptor, as `bind` names it.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The id of the UMEM ([`Umem::id`]) the owner registered.
    pub fn umem_id(&self) -> u32 {
        self.umem_id
    }

    /// Whether the owner bound with `XDP_USE_SG`: then so is every socket sharing its UMEM.
    pub fn sg(&self) -> bool {
        self.sg
    }

    /// The TX metadata the owner asked to register the UMEM with (a socket sharing it gets
    /// the same), and what the kernel gave.
    pub fn tx_metadata(&self) -> (TxMetadata, TxMetadata) {
        self.tx_metadata
    }
}

impl std::fmt::Debug for UmemOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UmemOwner(fd {}, umem {})", self.fd.as_raw_fd(), self.umem_id)
    }
}

/// An AF_XDP socket bound to one queue of one interface, with its rings mapped.
pub struct XskSocket {
    fd: Arc<OwnedFd>,
    /// Set when this socket registered its UMEM.
    registered: Option<u32>,
    /// Multi-buffer (`XDP_USE_SG`, given or inherited from the UMEM's owner).
    sg: bool,
    /// The TX metadata its UMEM was registered with: asked for, and got.
    tx_metadata: (TxMetadata, TxMetadata),
    /// Why the kernel refused the TX metadata asked for, if it did.
    tx_metadata_refused: Option<io::Error>,
    /// Empty frames for the kernel to receive into.
    pub fill: FillRing,
    /// Sent frames the kernel hands back.
    pub comp: CompRing,
    /// Received frames (`None`: created without an rx ring).
    pub rx: Option<RxRing>,
    /// Frames to send (`None`: created without a tx ring).
    pub tx: Option<TxRing>,
    zerocopy: bool,
}

impl XskSocket {
    /// Creates, maps and binds a socket on `ifindex`/`queue` over `umem`.
    pub fn create(umem: &Umem, ifindex: u32, queue: u32, sizes: RingSizes, flags: BindFlags) -> io::Result<XskSocket> {
        if let BindFlags::Shared(owner) = &flags {
            if owner.umem_id != umem.id() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "socket {} registered UMEM {}, not UMEM {}: a socket shares only the UMEM its rings carry",
                        owner.raw_fd(),
                        owner.umem_id,
                        umem.id()
                    ),
                ));
            }
        }
        let fd = sys::socket()?;
        let mut tx_metadata_refused = None;
        let tx_metadata = match &flags {
            BindFlags::Owner { tx_metadata, .. } => {
                let reg = sys::XdpUmemReg {
                    addr: umem.as_ptr() as u64,
                    len: umem.len() as u64,
                    chunk_size: umem.frame_size(),
                    headroom: 0,
                    flags: 0,
                    tx_metadata_len: 0,
                };
                let with_metadata = |software: bool| sys::XdpUmemReg {
                    flags: sys::XDP_UMEM_TX_METADATA_LEN | if software { sys::XDP_UMEM_TX_SW_CSUM } else { 0 },
                    tx_metadata_len: sys::TX_METADATA_LEN as u32,
                    ..reg
                };
                // A kernel that does not know the flags refuses them (EINVAL): it gets the
                // UMEM without metadata, and the caller says so. (One that knows
                // tx_metadata_len but not the flag, 6.8 to 6.10 without the stable fix, is
                // not tried: an older one would take the length as padding, silently.)
                let got = match tx_metadata {
                    TxMetadata::Off => None,
                    TxMetadata::Checksum => Some(with_metadata(false)),
                    TxMetadata::ChecksumInSoftware => Some(with_metadata(true)),
                }
                .map(|reg| sys::set_option(&fd, sys::XDP_UMEM_REG, &reg));
                match got {
                    Some(Ok(())) => (*tx_metadata, *tx_metadata),
                    Some(Err(err)) if err.raw_os_error() == Some(libc::EINVAL) => {
                        tx_metadata_refused = Some(err);
                        sys::set_option(&fd, sys::XDP_UMEM_REG, &reg)?;
                        (*tx_metadata, TxMetadata::Off)
                    }
                    Some(Err(err)) => return Err(err),
                    None => {
                        sys::set_option(&fd, sys::XDP_UMEM_REG, &reg)?;
                        (TxMetadata::Off, TxMetadata::Off)
                    }
                }
            }
            BindFlags::Shared(owner) => owner.tx_metadata,
        };
        // Every socket has its own fill and completion rings, also when sharing a UMEM with a
        // socket on another device or queue.
        sys::set_option(&fd, sys::XDP_UMEM_FILL_RING, &sizes.fill)?;
        sys::set_option(&fd, sys::XDP_UMEM_COMPLETION_RING, &sizes.comp)?;
        if sizes.rx > 0 {
            sys::set_option(&fd, sys::XDP_RX_RING, &sizes.rx)?;
        }
        if sizes.tx > 0 {
            sys::set_option(&fd, sys::XDP_TX_RING, &sizes.tx)?;
        }
        let offsets: sys::XdpMmapOffsets = sys::get_option(fd.as_raw_fd(), sys::XDP_MMAP_OFFSETS)?;
        let ledger = umem.ledger();
        let ring = |off: sys::XdpRingOffset| RingOffsets {
            producer: off.producer,
            consumer: off.consumer,
            flags: off.flags,
            desc: off.desc,
        };
        // The fill and completion rings must be mapped before bind: bind hands them to the
        // UMEM's buffer pool and the socket's offsets stop reaching them.
        let fill = FillRing::new(
            RingRegion::map(&fd, sys::XDP_UMEM_PGOFF_FILL_RING, ring(offsets.fr), sizes.fill)?,
            ledger.clone(),
        );
        let comp = CompRing::new(
            RingRegion::map(&fd, sys::XDP_UMEM_PGOFF_COMPLETION_RING, ring(offsets.cr), sizes.comp)?,
            ledger.clone(),
        );
        let rx = if sizes.rx > 0 {
            Some(RxRing::new(RingRegion::map(&fd, sys::XDP_PGOFF_RX_RING, ring(offsets.rx), sizes.rx)?, ledger.clone()))
        } else {
            None
        };
        let tx = if sizes.tx > 0 {
            Some(TxRing::new(RingRegion::map(&fd, sys::XDP_PGOFF_TX_RING, ring(offsets.tx), sizes.tx)?, ledger.clone()))
        } else {
            None
        };
        let (bind_flags, shared_fd) = match &flags {
            BindFlags::Owner { zerocopy, sg, .. } => {
                let mode = if *zerocopy { sys::XDP_ZEROCOPY } else { sys::XDP_COPY };
                let sg = if *sg { sys::XDP_USE_SG } else { 0 };
                (mode | sg | sys::XDP_USE_NEED_WAKEUP, None)
            }
            BindFlags::Shared(owner) => (sys::XDP_SHARED_UMEM, Some(owner.raw_fd())),
        };
        // A socket closed a moment ago may still hold the queue: the kernel releases its
        // buffer pool from a workqueue. Give that a moment before calling the queue taken.
        let deadline = Instant::now() + BUSY_QUEUE_GRACE;
        loop {
            match sys::bind(&fd, ifindex, queue, bind_flags, shared_fd) {
                Err(err) if err.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                result => break result?,
            }
        }
        // `struct xdp_options` is one u32 of flags.
        let options: u32 = sys::get_option(fd.as_raw_fd(), sys::XDP_OPTIONS)?;
        let registered = matches!(flags, BindFlags::Owner { .. }).then(|| umem.id());
        let sg = match &flags {
            BindFlags::Owner { sg, .. } => *sg,
            BindFlags::Shared(owner) => owner.sg,
        };
        Ok(XskSocket {
            fd: Arc::new(fd),
            registered,
            sg,
            tx_metadata,
            tx_metadata_refused,
            fill,
            comp,
            rx,
            tx,
            zerocopy: options & sys::XDP_OPTIONS_ZEROCOPY != 0,
        })
    }

    /// For a socket that registered its UMEM: what another socket passes to share it.
    pub fn umem_owner(&self) -> Option<UmemOwner> {
        self.registered.map(|umem_id| UmemOwner {
            fd: self.fd.clone(),
            umem_id,
            sg: self.sg,
            tx_metadata: self.tx_metadata,
        })
    }

    /// Whether frames may span several chunks (`XDP_USE_SG`).
    pub fn sg(&self) -> bool {
        self.sg
    }

    /// The TX metadata of the socket's UMEM: what was asked for, and what the kernel gave
    /// ([`TxMetadata::Off`] where it refused: see [`XskSocket::tx_metadata_refused`]).
    pub fn tx_metadata(&self) -> (TxMetadata, TxMetadata) {
        self.tx_metadata
    }

    /// The kernel's answer when it refused to register the UMEM with TX metadata.
    pub fn tx_metadata_refused(&self) -> Option<&io::Error> {
        self.tx_metadata_refused.as_ref()
    }

    /// The socket's file descriptor.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the kernel runs this socket zero-copy (else copy mode).
    pub fn zerocopy(&self) -> bool {
        self.zerocopy
    }

    /// Lets one `sendto` turn up to `budget` frames into skbs (copy mode; Linux 6.17+).
    /// Returns the kernel's refusal on older kernels.
    pub fn set_tx_budget(&self, budget: u32) -> io::Result<()> {
        sys::set_option(&self.fd, sys::XDP_MAX_TX_SKB_BUDGET, &budget)
    }

    /// Preferred busy polling (Linux 5.11+): `SO_PREFER_BUSY_POLL`, `SO_BUSY_POLL` of
    /// `usecs` and `SO_BUSY_POLL_BUDGET` of `budget` frames per NAPI poll. Raising the budget
    /// needs CAP_NET_ADMIN: call it during setup.
    pub fn set_busy_poll(&self, usecs: u32, budget: u32) -> io::Result<()> {
        let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        sys::set_socket_int(&self.fd, sys::SO_PREFER_BUSY_POLL, 1)?;
        sys::set_socket_int(&self.fd, sys::SO_BUSY_POLL, int(usecs))?;
        sys::set_socket_int(&self.fd, sys::SO_BUSY_POLL_BUDGET, int(budget))
    }

    /// The NAPI instance the socket's frames come from (`SO_INCOMING_NAPI_ID`); 0 while the
    /// kernel knows none (no frame yet, or a device whose queues have no NAPI).
    pub fn napi_id(&self) -> io::Result<u32> {
        sys::get_socket_u32(self.raw_fd(), sys::SO_INCOMING_NAPI_ID)
    }

    /// A handle the control thread uses to read `XDP_STATISTICS` while a worker owns the
    /// socket.
    pub fn stats_reader(&self) -> XskStatsReader {
        XskStatsReader { fd: self.fd.clone() }
    }

    /// Wakes the kernel to send what is in the tx ring; false on a transient refusal.
    #[inline]
    pub fn kick_tx(&self) -> io::Result<bool> {
        sys::kick_tx(self.raw_fd())
    }

    /// Wakes the kernel to look at the fill ring (and, under busy polling, run the device's
    /// NAPI).
    #[inline]
    pub fn kick_rx(&self) {
        sys::kick_rx(self.raw_fd())
    }
}

/// Reads one socket's `XDP_STATISTICS` (one getsockopt; not for the data path).
#[derive(Clone)]
pub struct XskStatsReader {
    fd: Arc<OwnedFd>,
}

impl XskStatsReader {
    /// The counters now (one `getsockopt`).
    pub fn read(&self) -> io::Result<XdpStatistics> {
        sys::get_option(self.fd.as_raw_fd(), sys::XDP_STATISTICS)
    }
}

/// `XDP_STATISTICS` are the counters of an AF_XDP port.
impl CounterSource for XskStatsReader {
    fn read(&self) -> io::Result<PortCounters> {
        XskStatsReader::read(self).map(|s| PortCounters {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
            rx_hints: None,
        })
    }
}

impl std::fmt::Debug for XskStatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XskStatsReader(fd {})", self.fd.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::{require_root, Netns};
    use umem::UmemConfig;

    #[test]
    fn a_ring_cannot_be_mapped_twice_nor_a_umem_shared_under_another() {
        if !require_root("a_ring_cannot_be_mapped_twice_nor_a_umem_shared_under_another") {
            return;
        }
        crate::netdev::raise_memlock_limit();
        let netns = Netns::with_veth_pair("map");
        netns.run(|| {
            let ifindex = bpf::ifindex("veth0").unwrap();
            let config = UmemConfig { frame_count: 64, ..Default::default() };
            let (a, _frames_a) = Umem::create(&config).unwrap();
            let (b, _frames_b) = Umem::create(&config).unwrap();
            let sizes = RingSizes { fill: 32, comp: 32, rx: 32, tx: 32 };
            let owner = XskSocket::create(
                &a,
                ifindex,
                0,
                sizes,
                BindFlags::Owner { zerocopy: false, sg: false, tx_metadata: TxMetadata::Off },
            )
            .unwrap();
            let fd = owner.raw_fd();
            let offsets = sys::get_option::<sys::XdpMmapOffsets>(fd, sys::XDP_MMAP_OFFSETS).unwrap();
            let rx = offsets.rx;
            let rx = RingOffsets { producer: rx.producer, consumer: rx.consumer, flags: rx.flags, desc: rx.desc };
            // A second rx ring end would be a second consumer of the same descriptors.
            let err = RingRegion::<umem::XdpDesc>::map(&fd, sys::XDP_PGOFF_RX_RING, rx, 32).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
            assert!(err.to_string().contains("one mapping per ring"), "{err}");

            // Sharing a's registration under rings that carry b's frames is refused before
            // any socket exists.
            let share = BindFlags::Shared(owner.umem_owner().expect("the owner registered a"));
            let err = XskSocket::create(&b, ifindex, 0, sizes, share).err().expect("b is not the owner's UMEM");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains(&format!("registered UMEM {}, not UMEM {}", a.id(), b.id())), "{err}");

            // Once the socket is gone, so are its mappings: a new socket maps its rings.
            drop(owner);
            let again = XskSocket::create(
                &a,
                ifindex,
                0,
                sizes,
                BindFlags::Owner { zerocopy: false, sg: false, tx_metadata: TxMetadata::Off },
            )
            .unwrap();
            assert!(again.umem_owner().is_some());
        });
    }
    /// This kernel (6.18) takes a UMEM with TX metadata, with and without
    /// `XDP_UMEM_TX_SW_CSUM`, and a socket sharing it inherits what the owner registered.
    #[test]
    fn a_umem_registers_with_tx_metadata_and_its_sharers_inherit_it() {
        if !require_root("a_umem_registers_with_tx_metadata_and_its_sharers_inherit_it") {
            return;
        }
        crate::netdev::raise_memlock_limit();
        let netns = Netns::with_veth_pair("ofmd");
        netns.run(|| {
            let ifindex = bpf::ifindex("veth0").unwrap();
            let peer = bpf::ifindex("veth1").unwrap();
            let sizes = RingSizes { fill: 32, comp: 32, rx: 32, tx: 32 };
            for asked in [TxMetadata::Off, TxMetadata::Checksum, TxMetadata::ChecksumInSoftware] {
                let (umem, _frames) = Umem::create(&UmemConfig { frame_count: 64, ..Default::default() }).unwrap();
                let flags = BindFlags::Owner { zerocopy: false, sg: false, tx_metadata: asked };
                let owner = XskSocket::create(&umem, ifindex, 0, sizes, flags).unwrap();
                assert_eq!(owner.tx_metadata(), (asked, asked), "registered as asked");
                assert!(owner.tx_metadata_refused().is_none());
                let share = BindFlags::Shared(owner.umem_owner().unwrap());
                let sharer = XskSocket::create(&umem, peer, 0, sizes, share).unwrap();
                assert_eq!(sharer.tx_metadata(), (asked, asked), "the sharer has the owner's registration");
            }
        });
    }
}
