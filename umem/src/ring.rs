//! The four AF_XDP rings, each its own type.
//!
//! | ring | user space | kernel | carries |
//! |---|---|---|---|
//! | [`FillRing`] | produces | consumes | empty frames for the kernel to receive into |
//! | [`RxRing`] | consumes | produces | received frames |
//! | [`TxRing`] | produces | consumes | frames to send |
//! | [`CompRing`] | consumes | produces | sent frames, free again |
//!
//! A ring is a power-of-two array of descriptors plus a producer and a consumer index that
//! only grow (wrapping at 2^32). Each side caches the other side's index and reloads it only
//! when the cache says there is not enough room or data (as libxdp's `xsk.c` does), so the
//! shared cache lines are touched once per batch, not once per frame. Publishing is a release
//! store after the descriptors are written; reading the other side's index is an acquire load
//! before the descriptors are read.
//!
//! Batches are guards: [`FillRing::reserve`] and [`TxRing::reserve`] claim slots, and frames
//! move into the ring only in `commit_from`, which publishes them in one store; dropping a
//! batch without committing publishes nothing. [`RxRing::peek`] and [`CompRing::peek`] look at
//! what the kernel produced, and frames come out only in `commit_into`, which releases the
//! slots in one store; dropping the batch leaves the entries for the next peek. Either way a
//! frame is never in the ring and in user space at once.
//!
//! What safe code cannot do with these types: build a ring on a region sized for another
//! descriptor ([`RingRegion`] carries its descriptor type), map one ring twice (two
//! producers on one index), put a frame of another UMEM in a ring (refused, left with the
//! caller), or turn a kernel descriptor into a token without a check: rx and completion
//! entries are checked against the area and the [`FrameLedger`] with checked arithmetic in
//! every build, and a bad one is released, dropped and counted ([`RxRing::bad_descs`],
//! [`CompRing::bad_descs`]).

use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytemuck::{Pod, Zeroable};
use memmap2::{MmapOptions, MmapRaw};

use crate::ledger::BadDescs;
use crate::{Frame, FrameLedger, PoolCache};

/// `XDP_RING_NEED_WAKEUP` from `<linux/if_xdp.h>`: the kernel sleeps until woken by a syscall.
pub const XDP_RING_NEED_WAKEUP: u32 = 1;

/// `XDP_PKT_CONTD` from `<linux/if_xdp.h>`: in an rx or tx descriptor's `options`, the
/// packet continues in the next descriptor (multi-buffer, `XDP_USE_SG`).
pub const XDP_PKT_CONTD: u32 = 1;

/// The most chunks one multi-buffer packet may span, either way: the kernel's copy-mode
/// transmit refuses a packet of more than `MAX_SKB_FRAGS` (17) descriptors (`xsk_build_skb`,
/// `-EOVERFLOW`), and a received one of more is dropped here (`too_many`). 17 chunks of 2048
/// bytes hold any jumbo frame.
pub const MAX_PIECES: usize = 17;

/// `XDP_TX_METADATA` from `<linux/if_xdp.h>`: a tx descriptor option saying the
/// `struct xsk_tx_metadata` in the bytes just before the frame's data is valid (Linux 6.8+).
pub const XDP_TX_METADATA: u32 = 1 << 1;

/// `AF_XDP` from `<linux/socket.h>`.
const AF_XDP: i32 = 44;

/// An rx or tx descriptor (`struct xdp_desc`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct XdpDesc {
    /// Offset of the frame's data in the UMEM.
    pub addr: u64,
    /// Bytes of data.
    pub len: u32,
    /// `XDP_*` option bits (0: a whole frame).
    pub options: u32,
}

/// Where the producer index, consumer index, flags and descriptor array sit in a ring's
/// mapping (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingOffsets {
    /// Offset of the producer index (a `u32`).
    pub producer: u64,
    /// Offset of the consumer index (a `u32`).
    pub consumer: u64,
    /// Offset of the flags word (`XDP_RING_NEED_WAKEUP`).
    pub flags: u64,
    /// Offset of the descriptor array.
    pub desc: u64,
}

/// Rings mapped now, as (device, inode of the socket, page offset): a ring mapped twice
/// would have two user-space producers (or consumers) racing on one index.
static MAPPED: Mutex<Vec<(u64, u64, u64)>> = Mutex::new(Vec::new());

struct MappedRing {
    _map: MmapRaw,
    key: (u64, u64, u64),
}

impl Drop for MappedRing {
    fn drop(&mut self) {
        let mut mapped = MAPPED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        mapped.retain(|key| *key != self.key);
    }
}

enum Owner {
    Mapped(#[allow(dead_code)] MappedRing),
    Heap(#[allow(dead_code)] Box<[u64]>),
}

/// The memory of one ring holding descriptors of type `D` (`u64` addresses for the fill and
/// completion rings, [`XdpDesc`] for rx and tx): a mapping of an AF_XDP socket, or a heap
/// block for tests and simulations. The descriptor type is part of the region's type, so a
/// ring can only be built on a region sized for its own descriptors.
pub struct RingRegion<D: Pod> {
    base: NonNull<u8>,
    len: usize,
    offsets: RingOffsets,
    entries: u32,
    _owner: Owner,
    _desc: PhantomData<D>,
}

// SAFETY: the region is plain shared memory; all index access goes through atomics and
// descriptor access is partitioned between producer and consumer by the ring protocol.
unsafe impl<D: Pod> Send for RingRegion<D> {}
// SAFETY: as above.
unsafe impl<D: Pod> Sync for RingRegion<D> {}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl<D: Pod> RingRegion<D> {
    /// Maps the ring of an AF_XDP socket at `page_offset` (one of the `XDP_PGOFF_*` values)
    /// with the layout the kernel reported in `XDP_MMAP_OFFSETS`. Refuses a descriptor that
    /// is not an AF_XDP socket, and a ring this process has mapped already (until that
    /// mapping is gone).
    pub fn map(
        socket: &impl AsRawFd,
        page_offset: u64,
        offsets: RingOffsets,
        entries: u32,
    ) -> io::Result<RingRegion<D>> {
        check_entries(entries)?;
        let fd = socket.as_raw_fd();
        if socket_domain(fd)? != AF_XDP {
            return Err(invalid(format!("fd {fd} is not an AF_XDP socket: no ring to map")));
        }
        let key = {
            // SAFETY: an all-zero `stat` is a valid value; fstat fills it.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: `st` is a writable `stat`; `fd` is open (borrowed from `socket`).
            if unsafe { libc::fstat(fd, &mut st) } < 0 {
                return Err(io::Error::last_os_error());
            }
            (st.st_dev, st.st_ino, page_offset)
        };
        let len = ring_len::<D>(offsets, entries)?;
        let mut mapped = MAPPED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if mapped.contains(&key) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "the ring at page offset {page_offset:#x} of this socket is mapped already: one mapping per ring"
                ),
            ));
        }
        let map = MmapOptions::new().offset(page_offset).len(len).populate().map_raw(fd)?;
        let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
        // Registered while the lock is held, so two threads cannot both map the ring.
        mapped.push(key);
        drop(mapped);
        let region = RingRegion {
            base,
            len,
            offsets,
            entries,
            _owner: Owner::Mapped(MappedRing { _map: map, key }),
            _desc: PhantomData,
        };
        region.check_layout()?;
        Ok(region)
    }

    /// A ring on the heap with a compact layout (producer, consumer, flags, descriptors).
    pub fn heap(entries: u32) -> io::Result<RingRegion<D>> {
        RingRegion::heap_at(entries, 0)
    }

    /// As [`RingRegion::heap`], with both indices starting at `start` instead of 0: for
    /// exercising the wrap of the 32-bit indices (start near `u32::MAX`).
    pub fn heap_at(entries: u32, start: u32) -> io::Result<RingRegion<D>> {
        check_entries(entries)?;
        let offsets = RingOffsets { producer: 0, consumer: 64, flags: 128, desc: 192 };
        let len = ring_len::<D>(offsets, entries)?;
        let mut words = vec![0u64; len.div_ceil(8)].into_boxed_slice();
        let base = NonNull::new(words.as_mut_ptr().cast::<u8>()).expect("boxes are never null");
        let region = RingRegion { base, len, offsets, entries, _owner: Owner::Heap(words), _desc: PhantomData };
        region.check_layout()?;
        for off in [offsets.producer, offsets.consumer] {
            // SAFETY: `check_layout` proved the index words are inside the region and 4-byte
            // aligned; nothing else references the fresh region yet.
            unsafe { (*region.base.as_ptr().add(off as usize).cast::<AtomicU32>()).store(start, Ordering::Relaxed) };
        }
        Ok(region)
    }

    /// Entries of the ring (a power of two).
    pub fn entries(&self) -> u32 {
        self.entries
    }

    fn check_layout(&self) -> io::Result<()> {
        let o = self.offsets;
        let fits = |off: u64, size: usize| (off as usize).checked_add(size).is_some_and(|end| end <= self.len);
        let aligned = |off: u64, align: usize| (off as usize).is_multiple_of(align);
        let descs = (self.entries as usize).checked_mul(size_of::<D>());
        let ok = descs.is_some_and(|descs| fits(o.desc, descs))
            && fits(o.producer, 4)
            && fits(o.consumer, 4)
            && fits(o.flags, 4)
            && aligned(o.producer, 4)
            && aligned(o.consumer, 4)
            && aligned(o.flags, 4)
            && aligned(o.desc, align_of::<D>().max(8))
            && (self.base.as_ptr() as usize).is_multiple_of(8);
        if ok {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "ring layout {o:?} of {} descriptors of {} bytes does not fit {} bytes",
                    self.entries,
                    size_of::<D>(),
                    self.len
                ),
            ))
        }
    }
}

/// Bytes a ring of `entries` descriptors of `D` spans from the start of its mapping.
fn ring_len<D>(offsets: RingOffsets, entries: u32) -> io::Result<usize> {
    usize::try_from(offsets.desc)
        .ok()
        .and_then(|desc| desc.checked_add((entries as usize).checked_mul(size_of::<D>())?))
        .ok_or_else(|| invalid(format!("a ring of {entries} descriptors at offset {} overflows", offsets.desc)))
}

fn socket_domain(fd: i32) -> io::Result<i32> {
    let mut domain: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` is a writable c_int of `len` bytes.
    let ret = unsafe {
        libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN, (&mut domain as *mut libc::c_int).cast(), &mut len)
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return Err(invalid(format!("fd {fd} is not an AF_XDP socket: {err}")));
    }
    Ok(domain)
}

fn check_entries(entries: u32) -> io::Result<()> {
    if entries.is_power_of_two() {
        Ok(())
    } else {
        Err(invalid(format!("ring size {entries} is not a power of two (and at least 1)")))
    }
}

/// One end of a ring: the indices, the cache of the other side's index, typed descriptors.
pub(crate) struct RingEnd<T: Pod> {
    // Keeps the memory mapped as long as this end exists.
    _region: Arc<RingRegion<T>>,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    _desc: PhantomData<T>,
}

// SAFETY: the end owns its share of the region through the Arc; each ring has exactly one
// user-space end (the ring types are not Clone), so moving it to a worker thread is sound.
unsafe impl<T: Pod> Send for RingEnd<T> {}

impl<T: Pod> RingEnd<T> {
    pub(crate) fn new(region: Arc<RingRegion<T>>, producer_side: bool) -> RingEnd<T> {
        let at = |off: u64| {
            // SAFETY: `check_layout` proved every offset lies inside the region.
            unsafe { NonNull::new_unchecked(region.base.as_ptr().add(off as usize)) }
        };
        let producer = at(region.offsets.producer).cast::<AtomicU32>();
        let consumer = at(region.offsets.consumer).cast::<AtomicU32>();
        let flags = at(region.offsets.flags).cast::<AtomicU32>();
        let descs = at(region.offsets.desc).cast::<T>();
        let size = region.entries;
        let mut end = RingEnd {
            _region: region.clone(),
            producer,
            consumer,
            flags,
            descs,
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _desc: PhantomData,
        };
        end.cached_prod = end.producer().load(Ordering::Acquire);
        end.cached_cons = end.consumer().load(Ordering::Acquire);
        if producer_side {
            // A producer caches "consumer + size": the index it may write up to.
            end.cached_cons = end.cached_cons.wrapping_add(size);
        }
        end
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: aligned and in bounds (check_layout), alive as long as `region`.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { self.consumer.as_ref() }
    }

    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: as above.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed)
    }

    pub(crate) fn size(&self) -> u32 {
        self.size
    }

    /// Producer side: how many of `want` slots are free.
    #[inline]
    pub(crate) fn free_slots(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return want;
        }
        self.cached_cons = self.consumer().load(Ordering::Acquire).wrapping_add(self.size);
        self.cached_cons.wrapping_sub(self.cached_prod).min(want)
    }

    /// Producer side: writes the `i`-th slot after the producer index (not yet published).
    #[inline]
    pub(crate) fn write(&mut self, i: u32, desc: T) {
        let slot = (self.cached_prod.wrapping_add(i) & self.mask) as usize;
        // SAFETY: slot < size, and the slot is free: the consumer index says the other side
        // is done with it.
        unsafe { self.descs.as_ptr().add(slot).write(desc) }
    }

    /// Producer side: makes `n` written slots visible to the consumer.
    #[inline]
    pub(crate) fn publish(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        self.producer().store(self.cached_prod, Ordering::Release);
    }

    /// Consumer side: how many of `want` entries are ready.
    #[inline]
    pub(crate) fn ready(&mut self, want: u32) -> u32 {
        let mut ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready < want {
            self.cached_prod = self.producer().load(Ordering::Acquire);
            ready = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        ready.min(want)
    }

    /// Consumer side: entries known to be ready from the cached producer index.
    #[inline]
    pub(crate) fn known_ready(&self) -> u32 {
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Consumer side: reads the `i`-th ready entry.
    #[inline]
    pub(crate) fn read(&self, i: u32) -> T {
        let slot = (self.cached_cons.wrapping_add(i) & self.mask) as usize;
        // SAFETY: slot < size, and the producer published it (acquire in `ready`). `T: Pod`:
        // whatever bytes the other side wrote are a valid `T`.
        unsafe { self.descs.as_ptr().add(slot).read() }
    }

    /// Consumer side: hands `n` read slots back to the producer.
    #[inline]
    pub(crate) fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.consumer().store(self.cached_cons, Ordering::Release);
    }

    /// Entries published by the producer and not yet released by the consumer, as the
    /// shared indices say now.
    pub(crate) fn in_flight(&self) -> u32 {
        self.producer().load(Ordering::Acquire).wrapping_sub(self.consumer().load(Ordering::Acquire))
    }

    /// Every published entry the consumer has not released, by the shared indices (for
    /// simulations and tests; not for the data path).
    pub(crate) fn unread(&self) -> Vec<T> {
        let consumer = self.consumer().load(Ordering::Acquire);
        let count = self.producer().load(Ordering::Acquire).wrapping_sub(consumer);
        (0..count)
            .map(|i| {
                let slot = (consumer.wrapping_add(i) & self.mask) as usize;
                // SAFETY: slot < size; published entries are initialized.
                unsafe { self.descs.as_ptr().add(slot).read() }
            })
            .collect()
    }
}

macro_rules! ring_common {
    ($ring:ident) => {
        impl $ring {
            /// Ring size in entries.
            pub fn size(&self) -> u32 {
                self.end.size()
            }

            /// The kernel set `XDP_RING_NEED_WAKEUP`: it will not look at this ring again until
            /// a syscall wakes it (`sendto` for tx, `recvfrom`/`poll` for fill).
            #[inline]
            pub fn needs_wakeup(&self) -> bool {
                self.end.flags() & XDP_RING_NEED_WAKEUP != 0
            }

            /// Entries in the ring now (published, not yet consumed).
            pub fn in_flight(&self) -> u32 {
                self.end.in_flight()
            }
        }
    };
}

/// Empty frames for the kernel to receive into. User space produces.
pub struct FillRing {
    end: RingEnd<u64>,
    ledger: FrameLedger,
}
ring_common!(FillRing);

impl FillRing {
    /// A fill ring for the frames of the UMEM `ledger` belongs to; frames of any other UMEM
    /// are refused (left with the caller).
    pub fn new(region: RingRegion<u64>, ledger: FrameLedger) -> FillRing {
        FillRing { end: RingEnd::new(Arc::new(region), true), ledger }
    }

    pub(crate) fn shared(region: Arc<RingRegion<u64>>, ledger: FrameLedger) -> FillRing {
        FillRing { end: RingEnd::new(region, true), ledger }
    }

    /// Claims up to `n` free slots.
    #[inline]
    pub fn reserve(&mut self, n: u32) -> FillBatch<'_> {
        let slots = self.end.free_slots(n);
        FillBatch { ring: self, slots }
    }

    /// Moves as many frames from the back of `frames` as fit (at most `max`) into the ring.
    #[inline]
    pub fn fill_from(&mut self, frames: &mut Vec<Frame>, max: u32) -> usize {
        let want = max.min(frames.len() as u32);
        self.reserve(want).commit_from(frames)
    }
}

/// Slots claimed in the fill ring; nothing is published until [`FillBatch::commit_from`].
pub struct FillBatch<'a> {
    ring: &'a mut FillRing,
    slots: u32,
}

impl FillBatch<'_> {
    /// Slots claimed: at most this many frames go in at commit.
    pub fn capacity(&self) -> u32 {
        self.slots
    }

    /// Moves up to `capacity()` frames from the back of `frames` into the ring and publishes
    /// them; returns how many moved. Stops at a frame of another UMEM (it stays in `frames`).
    #[inline]
    pub fn commit_from(self, frames: &mut Vec<Frame>) -> usize {
        let want = self.slots.min(frames.len() as u32);
        let frame_size = self.ring.ledger.frame_size();
        let umem = self.ring.ledger.umem_id();
        let mut n = 0;
        while n < want {
            match frames.last() {
                Some(frame) if frame.umem_id() == umem => {}
                _ => break,
            }
            let frame = frames.pop().expect("checked above");
            self.ring.ledger.to_kernel(frame.addr());
            self.ring.end.write(n, frame.chunk_base(frame_size));
            n += 1;
        }
        self.ring.end.publish(n);
        n as usize
    }
}

/// Frames to send. User space produces.
pub struct TxRing {
    end: RingEnd<XdpDesc>,
    ledger: FrameLedger,
    /// The UMEM was registered with TX metadata: a frame with a checksum request goes out
    /// with [`XDP_TX_METADATA`] (its metadata written by the caller). Without it the option
    /// is never set: the kernel refuses metadata a UMEM has no room for (and stops there).
    metadata: bool,
}
ring_common!(TxRing);

impl TxRing {
    /// A tx ring for the frames of the UMEM `ledger` belongs to; frames of any other UMEM
    /// are refused (left with the caller).
    pub fn new(region: RingRegion<XdpDesc>, ledger: FrameLedger) -> TxRing {
        TxRing { end: RingEnd::new(Arc::new(region), true), ledger, metadata: false }
    }

    pub(crate) fn shared(region: Arc<RingRegion<XdpDesc>>, ledger: FrameLedger) -> TxRing {
        TxRing { end: RingEnd::new(region, true), ledger, metadata: false }
    }

    /// Frames with a [`crate::TxCsum`] request go out with [`XDP_TX_METADATA`] from now on:
    /// for a socket whose UMEM was registered with `tx_metadata_len`, whose caller writes
    /// each such frame's `struct xsk_tx_metadata` before sending it.
    pub fn with_tx_metadata(mut self) -> TxRing {
        self.metadata = true;
        self
    }

    /// Whether checksum requests go out as TX metadata.
    pub fn tx_metadata(&self) -> bool {
        self.metadata
    }

    /// Claims up to `n` free slots.
    #[inline]
    pub fn reserve(&mut self, n: u32) -> TxBatch<'_> {
        let slots = self.end.free_slots(n);
        TxBatch { ring: self, slots }
    }

    /// Moves as many frames from the front of `frames` as fit (in order) and publishes them.
    #[inline]
    pub fn send_from(&mut self, frames: &mut Vec<Frame>) -> usize {
        let want = frames.len().min(u32::MAX as usize) as u32;
        self.reserve(want).commit_from(frames)
    }
}

/// Slots claimed in the tx ring; nothing is published until [`TxBatch::commit_from`].
pub struct TxBatch<'a> {
    ring: &'a mut TxRing,
    slots: u32,
}

impl TxBatch<'_> {
    /// Slots claimed: at most this many frames go in at commit.
    pub fn capacity(&self) -> u32 {
        self.slots
    }

    /// Moves up to `capacity()` frames from the front of `frames` (keeping their order) into
    /// the ring and publishes them; returns how many moved. Stops at a frame of another UMEM,
    /// and at a multi-buffer head (which only [`TxRing::send_packets_from`] sends whole):
    /// it and those after it stay in `frames`.
    #[inline]
    pub fn commit_from(self, frames: &mut Vec<Frame>) -> usize {
        let want = self.slots.min(frames.len() as u32) as usize;
        let umem = self.ring.ledger.umem_id();
        let metadata = self.ring.metadata;
        let mut n = 0;
        for frame in &frames[..want] {
            if frame.umem_id() != umem || frame.has_next() {
                break;
            }
            self.ring.ledger.to_kernel(frame.addr());
            let options = if metadata && frame.tx_csum().is_some() { XDP_TX_METADATA } else { 0 };
            self.ring.end.write(n as u32, XdpDesc { addr: frame.addr(), len: frame.len() as u32, options });
            n += 1;
        }
        // The tokens of the written slots go with them into the ring.
        frames.drain(..n);
        self.ring.end.publish(n as u32);
        n
    }
}

/// What [`TxRing::send_packets_from`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxCount {
    /// Packets (head frames taken from the caller's vector).
    pub packets: usize,
    /// Descriptors written (every chunk of every packet; each comes back on the completion
    /// ring).
    pub descs: usize,
    /// Of the packets, those of several chunks.
    pub multi: usize,
}

impl TxRing {
    /// [`TxRing::send_from`] for multi-buffer packets: each packet of `frames` goes whole, as
    /// one descriptor per chunk (its continuation chunks taken from `pool`), `XDP_PKT_CONTD`
    /// on all but the last; a packet that does not fit whole waits in `frames` with those
    /// after it, and so do the packets from `max_packets` on. A packet of more than
    /// [`MAX_PIECES`] chunks is never written (the kernel would refuse it); it stays in
    /// `frames` too.
    #[inline]
    pub fn send_packets_from(&mut self, frames: &mut Vec<Frame>, pool: &mut PoolCache, max_packets: usize) -> TxCount {
        let want: usize = frames.iter().map(|f| if f.has_next() { pool.pieces(f) } else { 1 }).sum();
        let slots = self.end.free_slots(want.min(u32::MAX as usize) as u32) as usize;
        let umem = self.ledger.umem_id();
        let metadata = self.metadata;
        // A checksum request rides on the packet's first descriptor (`xsk_build_skb` reads
        // the metadata there only).
        let request = |f: &Frame| if metadata && f.tx_csum().is_some() { XDP_TX_METADATA } else { 0 };
        let mut count = TxCount::default();
        for head in frames.iter_mut().take(max_packets) {
            if head.umem_id() != umem {
                break;
            }
            if !head.has_next() {
                if count.descs == slots {
                    break;
                }
                self.ledger.to_kernel(head.addr());
                let desc = XdpDesc { addr: head.addr(), len: head.len() as u32, options: request(head) };
                self.end.write(count.descs as u32, desc);
                count.descs += 1;
                count.packets += 1;
                continue;
            }
            let pieces = pool.pieces(head);
            if pieces > MAX_PIECES || count.descs + pieces > slots {
                break;
            }
            let desc = |f: &Frame| XdpDesc {
                addr: f.addr(),
                len: f.len() as u32,
                options: if f.has_next() { XDP_PKT_CONTD } else { 0 },
            };
            self.ledger.to_kernel(head.addr());
            let first = XdpDesc { options: desc(head).options | request(head), ..desc(head) };
            self.end.write(count.descs as u32, first);
            count.descs += 1;
            // The continuation tokens go into the ring here; the head's with the drain below.
            let mut next = pool.take_next(head);
            while let Some(mut piece) = next {
                let d = desc(&piece);
                next = pool.take_next(&mut piece);
                self.ledger.to_kernel(piece.addr());
                self.end.write(count.descs as u32, d);
                count.descs += 1;
            }
            count.packets += 1;
            count.multi += 1;
        }
        frames.drain(..count.packets);
        self.end.publish(count.descs as u32);
        count
    }
}

/// Received frames. User space consumes.
///
/// Every descriptor is checked before it becomes a token (inside the UMEM with checked
/// arithmetic, inside one chunk, a length of 1 to a chunk, its chunk held by the kernel);
/// a bad one is dropped, its slot released, and counted in [`RxRing::bad_descs`].
pub struct RxRing {
    end: RingEnd<XdpDesc>,
    ledger: FrameLedger,
    bad: BadDescs,
    mb: MbRx,
    /// The rest of a multi-buffer packet already dropped is still to come: its chunks go
    /// back to the pool until the descriptor without `XDP_PKT_CONTD`.
    discarding: bool,
}
ring_common!(RxRing);

/// Multi-buffer receive counts of one rx ring (cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MbRx {
    /// Packets of several chunks handed out whole.
    pub packets: u64,
    /// Packets dropped because a chunk of theirs was a refused descriptor (the chunks that
    /// were good went back to the pool).
    pub incomplete: u64,
    /// Packets dropped because they spanned more than [`MAX_PIECES`] chunks (or came in
    /// several chunks where chains are not enabled).
    pub too_many: u64,
}

/// What [`RxRing::receive_packets`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RxCount {
    /// Packets moved onto `out`.
    pub packets: usize,
    /// Descriptors consumed (each used one fill entry), good or refused.
    pub descs: u32,
}

impl RxRing {
    /// An rx ring for the frames of the UMEM `ledger` belongs to; a descriptor the ledger does
    /// not know as the kernel's is refused and counted.
    pub fn new(region: RingRegion<XdpDesc>, ledger: FrameLedger) -> RxRing {
        RxRing::shared(Arc::new(region), ledger)
    }

    pub(crate) fn shared(region: Arc<RingRegion<XdpDesc>>, ledger: FrameLedger) -> RxRing {
        RxRing {
            end: RingEnd::new(region, false),
            ledger,
            bad: BadDescs::default(),
            mb: MbRx::default(),
            discarding: false,
        }
    }

    /// Multi-buffer counts so far.
    pub fn mb(&self) -> MbRx {
        self.mb
    }

    /// Receives up to `max` whole packets onto `out`, gathering multi-buffer ones (`XDP_USE_SG`):
    /// a descriptor with `XDP_PKT_CONTD` continues in the next, and the continuation chunks
    /// are appended to the head's chain in `pool` (see [`PoolCache::append`]); `out` gets the
    /// heads. A packet whose last descriptor is not yet in the ring stays there for the next
    /// call (the kernel publishes a packet's descriptors together, so that happens only where
    /// `max` cuts the ring). A packet with a refused descriptor (`incomplete`) or more than
    /// [`MAX_PIECES`] chunks (`too_many`) is dropped whole, its good chunks back to `pool`,
    /// and counted in [`RxRing::mb`]; nothing is kept or lost.
    #[inline]
    pub fn receive_packets(&mut self, out: &mut Vec<Frame>, max: u32, pool: &mut PoolCache) -> RxCount {
        let ready = self.end.ready(max.saturating_mul(MAX_PIECES as u32 + 1));
        // Pass 1 (descriptors only): where the last whole packet within `max` ends.
        let mut end = 0;
        let mut packets = 0;
        let mut pieces = 0;
        for i in 0..ready {
            pieces += 1;
            if self.end.read(i).options & XDP_PKT_CONTD == 0 {
                end = i + 1;
                packets += 1;
                pieces = 0;
                if packets == max {
                    break;
                }
            } else if pieces > MAX_PIECES {
                // Dropped anyway: take what there is; the rest is discarded as it comes.
                end = i + 1;
            }
        }
        // Pass 2: claim and gather.
        let umem = self.ledger.umem_id();
        let mut head: Option<Frame> = None;
        let mut pieces = 0;
        let mut taken = 0;
        for i in 0..end {
            let desc = self.end.read(i);
            let last = desc.options & XDP_PKT_CONTD == 0;
            let frame = match self.ledger.claim_rx(desc.addr, desc.len) {
                Ok(()) => Some(Frame::from_raw(umem, desc.addr, desc.len)),
                Err(why) => {
                    self.bad.count(why);
                    None
                }
            };
            if self.discarding {
                if let Some(frame) = frame {
                    pool.put(frame);
                }
                self.discarding = !last;
                continue;
            }
            let Some(frame) = frame else {
                // A refused chunk: a packet of several chunks is incomplete.
                if let Some(head) = head.take() {
                    pool.put(head);
                    self.mb.incomplete += 1;
                } else if !last {
                    self.mb.incomplete += 1;
                }
                self.discarding = !last;
                continue;
            };
            match head.as_mut() {
                None if last => {
                    out.push(frame);
                    taken += 1;
                }
                None => {
                    head = Some(frame);
                    pieces = 1;
                }
                Some(h) => {
                    pieces += 1;
                    let appended = if pieces <= MAX_PIECES { pool.append(h, frame) } else { Err(frame) };
                    if let Err(frame) = appended {
                        pool.put(frame);
                        pool.put(head.take().expect("matched Some"));
                        self.mb.too_many += 1;
                        self.discarding = !last;
                        continue;
                    }
                    if last {
                        out.push(head.take().expect("matched Some"));
                        taken += 1;
                        self.mb.packets += 1;
                    }
                }
            }
        }
        // Only pass 1's cut of a packet of too many chunks leaves a head here: its rest
        // follows in the next call.
        if let Some(head) = head {
            pool.put(head);
            self.mb.too_many += 1;
            self.discarding = true;
        }
        self.end.release(end);
        RxCount { packets: taken, descs: end }
    }

    /// Looks at up to `n` received descriptors.
    #[inline]
    pub fn peek(&mut self, n: u32) -> RxBatch<'_> {
        let ready = self.end.ready(n);
        RxBatch { ring: self, ready }
    }

    /// Moves up to `max` received frames onto `out`; returns how many frames moved (bad
    /// descriptors among them are not counted here but in [`RxRing::bad_descs`]).
    #[inline]
    pub fn receive_into(&mut self, out: &mut Vec<Frame>, max: u32) -> usize {
        self.peek(max).commit_into(out)
    }

    /// Received frames still waiting in the ring, as last seen (no shared-memory access: it
    /// is the cached producer index minus the consumer index).
    #[inline]
    pub fn known_waiting(&self) -> u32 {
        self.end.known_ready()
    }

    /// Descriptors refused so far, by reason.
    pub fn bad_descs(&self) -> BadDescs {
        self.bad
    }
}

/// Received descriptors seen but not yet taken; dropping the batch leaves them in the ring.
pub struct RxBatch<'a> {
    ring: &'a mut RxRing,
    ready: u32,
}

impl RxBatch<'_> {
    /// Descriptors in the batch (good and bad).
    pub fn len(&self) -> u32 {
        self.ready
    }

    /// No descriptor in the batch.
    pub fn is_empty(&self) -> bool {
        self.ready == 0
    }

    /// The `i`-th descriptor as the kernel wrote it (unchecked), `i < len()`.
    pub fn desc(&self, i: u32) -> XdpDesc {
        assert!(i < self.ready, "descriptor {i} of a batch of {}", self.ready);
        self.ring.end.read(i)
    }

    /// Takes every good frame of the batch onto `out`, counts the bad ones, and releases
    /// all the slots. Returns how many frames moved.
    #[inline]
    pub fn commit_into(self, out: &mut Vec<Frame>) -> usize {
        let umem = self.ring.ledger.umem_id();
        let mut taken = 0;
        for i in 0..self.ready {
            let desc = self.ring.end.read(i);
            match self.ring.ledger.claim_rx(desc.addr, desc.len) {
                Ok(()) => {
                    out.push(Frame::from_raw(umem, desc.addr, desc.len));
                    taken += 1;
                }
                Err(why) => self.ring.bad.count(why),
            }
        }
        self.ring.end.release(self.ready);
        taken
    }
}

/// Sent frames, free again. User space consumes.
///
/// Every address is checked as the rx ring checks descriptors (inside the UMEM, its chunk
/// held by the kernel); a bad one is dropped and counted in [`CompRing::bad_descs`].
pub struct CompRing {
    end: RingEnd<u64>,
    ledger: FrameLedger,
    bad: BadDescs,
}
ring_common!(CompRing);

impl CompRing {
    /// A completion ring for the frames of the UMEM `ledger` belongs to; an address the ledger
    /// does not know as the kernel's is refused and counted.
    pub fn new(region: RingRegion<u64>, ledger: FrameLedger) -> CompRing {
        CompRing { end: RingEnd::new(Arc::new(region), false), ledger, bad: BadDescs::default() }
    }

    pub(crate) fn shared(region: Arc<RingRegion<u64>>, ledger: FrameLedger) -> CompRing {
        CompRing { end: RingEnd::new(region, false), ledger, bad: BadDescs::default() }
    }

    /// Looks at up to `n` completions.
    #[inline]
    pub fn peek(&mut self, n: u32) -> CompBatch<'_> {
        let ready = self.end.ready(n);
        CompBatch { ring: self, ready }
    }

    /// Moves up to `max` completed frames onto `out`; returns how many frames moved.
    #[inline]
    pub fn complete_into(&mut self, out: &mut Vec<Frame>, max: u32) -> usize {
        self.peek(max).commit_into(out)
    }

    /// Addresses refused so far, by reason.
    pub fn bad_descs(&self) -> BadDescs {
        self.bad
    }
}

/// Completions seen but not yet taken; dropping the batch leaves them in the ring.
pub struct CompBatch<'a> {
    ring: &'a mut CompRing,
    ready: u32,
}

impl CompBatch<'_> {
    /// Completions in the batch (good and bad).
    pub fn len(&self) -> u32 {
        self.ready
    }

    /// No completion in the batch.
    pub fn is_empty(&self) -> bool {
        self.ready == 0
    }

    /// Takes every good completed frame (length 0) onto `out`, counts the bad ones, and
    /// releases all the slots. Returns how many frames moved.
    #[inline]
    pub fn commit_into(self, out: &mut Vec<Frame>) -> usize {
        let umem = self.ring.ledger.umem_id();
        let mut taken = 0;
        for i in 0..self.ready {
            let addr = self.ring.end.read(i);
            match self.ring.ledger.claim_completion(addr) {
                Ok(()) => {
                    out.push(Frame::from_raw(umem, addr, 0));
                    taken += 1;
                }
                Err(why) => self.ring.bad.count(why),
            }
        }
        self.ring.end.release(self.ready);
        taken
    }
}

impl<D: Pod> std::fmt::Debug for RingRegion<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingRegion")
            .field("entries", &self.entries)
            .field("desc_size", &size_of::<D>())
            .field("offsets", &self.offsets)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_refuse_sizes_that_are_not_a_power_of_two() {
        for entries in [0, 3, 6, 1000, u32::MAX] {
            let err = RingRegion::<XdpDesc>::heap(entries).unwrap_err();
            assert!(err.to_string().contains("not a power of two"), "{entries}: {err}");
            assert!(RingRegion::<u64>::heap_at(entries, 7).is_err(), "{entries}");
        }
        assert_eq!(RingRegion::<u64>::heap(1).unwrap().entries(), 1);
    }

    #[test]
    fn the_region_is_sized_for_its_own_descriptor_type() {
        // The bug this type closes: a region of 8-byte entries under a ring of 16-byte
        // descriptors. Now the size comes from the type; the layout check holds each.
        let fill = RingRegion::<u64>::heap(64).unwrap();
        let tx = RingRegion::<XdpDesc>::heap(64).unwrap();
        assert_eq!(fill.len, 192 + 64 * 8);
        assert_eq!(tx.len, 192 + 64 * 16);
        fill.check_layout().unwrap();
        tx.check_layout().unwrap();
    }

    #[test]
    fn a_layout_that_does_not_fit_its_region_is_refused() {
        let mut region = RingRegion::<XdpDesc>::heap(64).unwrap();
        // Offsets as a (hostile) kernel might report them, against the same length.
        for offsets in [
            RingOffsets { desc: 200, ..region.offsets },
            RingOffsets { desc: 192 + 8, ..region.offsets },
            RingOffsets { producer: region.len as u64 - 2, ..region.offsets },
            RingOffsets { consumer: 2, ..region.offsets },
            RingOffsets { flags: u64::MAX - 1, ..region.offsets },
            RingOffsets { desc: u64::MAX - 7, ..region.offsets },
        ] {
            region.offsets = offsets;
            assert!(region.check_layout().is_err(), "{offsets:?}");
        }
        assert!(ring_len::<XdpDesc>(RingOffsets { desc: u64::MAX, ..Default::default() }, 2).is_err());
    }

    #[test]
    fn map_refuses_what_is_not_an_af_xdp_socket() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let err = RingRegion::<u64>::map(&file, 0, RingOffsets::default(), 8).unwrap_err();
        assert!(err.to_string().contains("not an AF_XDP socket"), "{err}");
    }
}
