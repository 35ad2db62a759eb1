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

/// How the socket was bound.
#[derive(Clone, Debug)]
pub enum BindFlags {
    /// The first socket of a UMEM: registers it; `XDP_COPY` or `XDP_ZEROCOPY`.
    Owner {
        /// Bind with `XDP_ZEROCOPY` (else `XDP_COPY`).
        zerocopy: bool,
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
        if let BindFlags::Owner { .. } = flags {
            let reg = sys::XdpUmemReg {
                addr: umem.as_ptr() as u64,
                len: umem.len() as u64,
                chunk_size: umem.frame_size(),
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            sys::set_option(&fd, sys::XDP_UMEM_REG, &reg)?;
        }
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
            BindFlags::Owner { zerocopy: true } => (sys::XDP_ZEROCOPY | sys::XDP_USE_NEED_WAKEUP, None),
            BindFlags::Owner { zerocopy: false } => (sys::XDP_COPY | sys::XDP_USE_NEED_WAKEUP, None),
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
        Ok(XskSocket {
            fd: Arc::new(fd),
            registered,
            fill,
            comp,
            rx,
            tx,
            zerocopy: options & sys::XDP_OPTIONS_ZEROCOPY != 0,
        })
    }

    /// For a socket that registered its UMEM: what another socket passes to share it.
    pub fn umem_owner(&self) -> Option<UmemOwner> {
        self.registered.map(|umem_id| UmemOwner { fd: self.fd.clone(), umem_id })
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
            let owner = XskSocket::create(&a, ifindex, 0, sizes, BindFlags::Owner { zerocopy: false }).unwrap();
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
            let again = XskSocket::create(&a, ifindex, 0, sizes, BindFlags::Owner { zerocopy: false }).unwrap();
            assert!(again.umem_owner().is_some());
        });
    }
}
