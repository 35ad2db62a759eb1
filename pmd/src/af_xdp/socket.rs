//! One AF_XDP socket: its four rings over the shared UMEM.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use umem::ring::RingOffsets;
use umem::{CompRing, FillRing, RingRegion, RxRing, TxRing, Umem};

use super::sys::{self, XdpStatistics};

/// How long a bind waits for a queue that another socket is still letting go of.
const BUSY_QUEUE_GRACE: Duration = Duration::from_millis(500);

/// Ring sizes in entries (powers of two); 0 for rx or tx means "no such ring".
#[derive(Clone, Copy, Debug)]
pub struct RingSizes {
    pub fill: u32,
    pub comp: u32,
    pub rx: u32,
    pub tx: u32,
}

/// How the socket was bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindFlags {
    /// The first socket of a UMEM: registers it; `XDP_COPY` or `XDP_ZEROCOPY`.
    Owner { zerocopy: bool },
    /// Shares the UMEM registered by the socket `owner_fd` (its own fill and completion
    /// rings); the kernel takes copy/zero-copy and need-wakeup from the owner.
    Shared { owner_fd: RawFd },
}

pub struct XskSocket {
    fd: Arc<OwnedFd>,
    pub fill: FillRing,
    pub comp: CompRing,
    pub rx: Option<RxRing>,
    pub tx: Option<TxRing>,
    zerocopy: bool,
}

impl XskSocket {
    /// Creates, maps and binds a socket on `ifindex`/`queue` over `umem`.
    pub fn create(umem: &Umem, ifindex: u32, queue: u32, sizes: RingSizes, flags: BindFlags) -> io::Result<XskSocket> {
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
        let map = |pgoff, off: sys::XdpRingOffset, entries, desc_size| {
            let offsets =
                RingOffsets { producer: off.producer, consumer: off.consumer, flags: off.flags, desc: off.desc };
            RingRegion::map(&fd, pgoff, offsets, entries, desc_size)
        };
        // The fill and completion rings must be mapped before bind: bind hands them to the
        // UMEM's buffer pool and the socket's offsets stop reaching them.
        let fill = FillRing::new(map(sys::XDP_UMEM_PGOFF_FILL_RING, offsets.fr, sizes.fill, 8)?, ledger.clone());
        let comp = CompRing::new(map(sys::XDP_UMEM_PGOFF_COMPLETION_RING, offsets.cr, sizes.comp, 8)?, ledger.clone());
        let rx = if sizes.rx > 0 {
            Some(RxRing::new(map(sys::XDP_PGOFF_RX_RING, offsets.rx, sizes.rx, 16)?, ledger.clone()))
        } else {
            None
        };
        let tx = if sizes.tx > 0 {
            Some(TxRing::new(map(sys::XDP_PGOFF_TX_RING, offsets.tx, sizes.tx, 16)?, ledger.clone()))
        } else {
            None
        };
        let (bind_flags, shared_fd) = match flags {
            BindFlags::Owner { zerocopy: true } => (sys::XDP_ZEROCOPY | sys::XDP_USE_NEED_WAKEUP, None),
            BindFlags::Owner { zerocopy: false } => (sys::XDP_COPY | sys::XDP_USE_NEED_WAKEUP, None),
            BindFlags::Shared { owner_fd } => (sys::XDP_SHARED_UMEM, Some(owner_fd)),
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
        #[repr(C)]
        #[derive(Default)]
        struct XdpOptions {
            flags: u32,
        }
        let options: XdpOptions = sys::get_option(fd.as_raw_fd(), sys::XDP_OPTIONS)?;
        Ok(XskSocket { fd: Arc::new(fd), fill, comp, rx, tx, zerocopy: options.flags & sys::XDP_OPTIONS_ZEROCOPY != 0 })
    }

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

    /// A handle the control thread uses to read `XDP_STATISTICS` while a worker owns the
    /// socket.
    pub fn stats_reader(&self) -> XskStatsReader {
        XskStatsReader { fd: self.fd.clone() }
    }

    #[inline]
    pub fn kick_tx(&self) -> io::Result<bool> {
        sys::kick_tx(self.raw_fd())
    }

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
    pub fn read(&self) -> io::Result<XdpStatistics> {
        sys::get_option(self.fd.as_raw_fd(), sys::XDP_STATISTICS)
    }
}

impl std::fmt::Debug for XskStatsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "XskStatsReader(fd {})", self.fd.as_raw_fd())
    }
}
