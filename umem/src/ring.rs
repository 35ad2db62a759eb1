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

use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::{Frame, FrameLedger};

/// `XDP_RING_NEED_WAKEUP` from `<linux/if_xdp.h>`: the kernel sleeps until woken by a syscall.
pub const XDP_RING_NEED_WAKEUP: u32 = 1;

/// An rx or tx descriptor (`struct xdp_desc`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

/// Where the producer index, consumer index, flags and descriptor array sit in a ring's
/// mapping (`struct xdp_ring_offset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub flags: u64,
    pub desc: u64,
}

enum Owner {
    Mapped(#[allow(dead_code)] MmapRaw),
    Heap(#[allow(dead_code)] Box<[u64]>),
}

/// The memory of one ring: a mapping of an AF_XDP socket, or a heap block for tests and
/// simulations.
pub struct RingRegion {
    base: NonNull<u8>,
    len: usize,
    offsets: RingOffsets,
    entries: u32,
    _owner: Owner,
}

// SAFETY: the region is plain shared memory; all index access goes through atomics and
// descriptor access is partitioned between producer and consumer by the ring protocol.
unsafe impl Send for RingRegion {}
// SAFETY: as above.
unsafe impl Sync for RingRegion {}

impl RingRegion {
    /// Maps the ring of an AF_XDP socket at `page_offset` (one of the `XDP_PGOFF_*` values)
    /// with the layout the kernel reported in `XDP_MMAP_OFFSETS`.
    pub fn map(
        socket: &impl AsRawFd,
        page_offset: u64,
        offsets: RingOffsets,
        entries: u32,
        desc_size: usize,
    ) -> io::Result<RingRegion> {
        check_entries(entries)?;
        let len = offsets.desc as usize + entries as usize * desc_size;
        let map = MmapOptions::new().offset(page_offset).len(len).populate().map_raw(socket.as_raw_fd())?;
        let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
        let region = RingRegion { base, len, offsets, entries, _owner: Owner::Mapped(map) };
        region.check_layout(desc_size)?;
        Ok(region)
    }

    /// A ring on the heap with a compact layout (producer, consumer, flags, descriptors).
    pub fn heap(entries: u32, desc_size: usize) -> io::Result<RingRegion> {
        check_entries(entries)?;
        let offsets = RingOffsets { producer: 0, consumer: 64, flags: 128, desc: 192 };
        let len = offsets.desc as usize + entries as usize * desc_size;
        let mut words = vec![0u64; len.div_ceil(8)].into_boxed_slice();
        let base = NonNull::new(words.as_mut_ptr().cast::<u8>()).expect("boxes are never null");
        let region = RingRegion { base, len, offsets, entries, _owner: Owner::Heap(words) };
        region.check_layout(desc_size)?;
        Ok(region)
    }

    pub fn entries(&self) -> u32 {
        self.entries
    }

    fn check_layout(&self, desc_size: usize) -> io::Result<()> {
        let o = self.offsets;
        let fits = |off: u64, size: usize| off as usize + size <= self.len;
        let aligned = |off: u64, align: u64| off.is_multiple_of(align);
        let ok = fits(o.producer, 4)
            && fits(o.consumer, 4)
            && fits(o.flags, 4)
            && fits(o.desc, self.entries as usize * desc_size)
            && aligned(o.producer, 4)
            && aligned(o.consumer, 4)
            && aligned(o.flags, 4)
            && aligned(o.desc, 8)
            && (self.base.as_ptr() as usize).is_multiple_of(8);
        if ok {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("ring layout {o:?} does not fit {} bytes", self.len),
            ))
        }
    }
}

fn check_entries(entries: u32) -> io::Result<()> {
    if entries.is_power_of_two() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("ring size {entries} is not a power of two")))
    }
}

/// One end of a ring: the indices, the cache of the other side's index, typed descriptors.
pub(crate) struct RingEnd<T> {
    // Keeps the memory mapped as long as this end exists.
    _region: Arc<RingRegion>,
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
unsafe impl<T: Send> Send for RingEnd<T> {}

impl<T: Copy> RingEnd<T> {
    pub(crate) fn new(region: Arc<RingRegion>, producer_side: bool) -> RingEnd<T> {
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
        // SAFETY: slot < size, and the producer published it (acquire in `ready`).
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
    pub fn new(region: RingRegion, ledger: FrameLedger) -> FillRing {
        FillRing { end: RingEnd::new(Arc::new(region), true), ledger }
    }

    pub(crate) fn shared(region: Arc<RingRegion>, ledger: FrameLedger) -> FillRing {
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
    pub fn capacity(&self) -> u32 {
        self.slots
    }

    /// Moves up to `capacity()` frames from the back of `frames` into the ring and publishes
    /// them; returns how many moved.
    #[inline]
    pub fn commit_from(self, frames: &mut Vec<Frame>) -> usize {
        let n = self.slots.min(frames.len() as u32);
        let frame_size = self.ring.ledger.frame_size();
        for i in 0..n {
            let frame = frames.pop().expect("n <= frames.len()");
            self.ring.ledger.to_kernel(frame.addr());
            self.ring.end.write(i, frame.chunk_base(frame_size));
        }
        self.ring.end.publish(n);
        n as usize
    }
}

/// Frames to send. User space produces.
pub struct TxRing {
    end: RingEnd<XdpDesc>,
    ledger: FrameLedger,
}
ring_common!(TxRing);

impl TxRing {
    pub fn new(region: RingRegion, ledger: FrameLedger) -> TxRing {
        TxRing { end: RingEnd::new(Arc::new(region), true), ledger }
    }

    pub(crate) fn shared(region: Arc<RingRegion>, ledger: FrameLedger) -> TxRing {
        TxRing { end: RingEnd::new(region, true), ledger }
    }

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
    pub fn capacity(&self) -> u32 {
        self.slots
    }

    /// Moves up to `capacity()` frames from the front of `frames` (keeping their order) into
    /// the ring and publishes them; returns how many moved.
    #[inline]
    pub fn commit_from(self, frames: &mut Vec<Frame>) -> usize {
        let n = self.slots.min(frames.len() as u32);
        for (i, frame) in frames.drain(..n as usize).enumerate() {
            self.ring.ledger.to_kernel(frame.addr());
            self.ring.end.write(i as u32, XdpDesc { addr: frame.addr(), len: frame.len() as u32, options: 0 });
        }
        self.ring.end.publish(n);
        n as usize
    }
}

/// Received frames. User space consumes.
pub struct RxRing {
    end: RingEnd<XdpDesc>,
    ledger: FrameLedger,
}
ring_common!(RxRing);

impl RxRing {
    pub fn new(region: RingRegion, ledger: FrameLedger) -> RxRing {
        RxRing { end: RingEnd::new(Arc::new(region), false), ledger }
    }

    pub(crate) fn shared(region: Arc<RingRegion>, ledger: FrameLedger) -> RxRing {
        RxRing { end: RingEnd::new(region, false), ledger }
    }

    /// Looks at up to `n` received descriptors.
    #[inline]
    pub fn peek(&mut self, n: u32) -> RxBatch<'_> {
        let ready = self.end.ready(n);
        RxBatch { ring: self, ready }
    }

    /// Moves up to `max` received frames onto `out`.
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
}

/// Received descriptors seen but not yet taken; dropping the batch leaves them in the ring.
pub struct RxBatch<'a> {
    ring: &'a mut RxRing,
    ready: u32,
}

impl RxBatch<'_> {
    pub fn len(&self) -> u32 {
        self.ready
    }

    pub fn is_empty(&self) -> bool {
        self.ready == 0
    }

    /// The `i`-th descriptor, `i < len()`.
    pub fn desc(&self, i: u32) -> XdpDesc {
        assert!(i < self.ready, "descriptor {i} of a batch of {}", self.ready);
        self.ring.end.read(i)
    }

    /// Takes every frame of the batch onto `out` and releases the slots.
    #[inline]
    pub fn commit_into(self, out: &mut Vec<Frame>) -> usize {
        for i in 0..self.ready {
            let desc = self.ring.end.read(i);
            self.ring.ledger.from_kernel(desc.addr);
            out.push(Frame::from_raw(desc.addr, desc.len));
        }
        self.ring.end.release(self.ready);
        self.ready as usize
    }
}

/// Sent frames, free again. User space consumes.
pub struct CompRing {
    end: RingEnd<u64>,
    ledger: FrameLedger,
}
ring_common!(CompRing);

impl CompRing {
    pub fn new(region: RingRegion, ledger: FrameLedger) -> CompRing {
        CompRing { end: RingEnd::new(Arc::new(region), false), ledger }
    }

    pub(crate) fn shared(region: Arc<RingRegion>, ledger: FrameLedger) -> CompRing {
        CompRing { end: RingEnd::new(region, false), ledger }
    }

    #[inline]
    pub fn peek(&mut self, n: u32) -> CompBatch<'_> {
        let ready = self.end.ready(n);
        CompBatch { ring: self, ready }
    }

    /// Moves up to `max` completed frames onto `out`.
    #[inline]
    pub fn complete_into(&mut self, out: &mut Vec<Frame>, max: u32) -> usize {
        self.peek(max).commit_into(out)
    }
}

/// Completions seen but not yet taken; dropping the batch leaves them in the ring.
pub struct CompBatch<'a> {
    ring: &'a mut CompRing,
    ready: u32,
}

impl CompBatch<'_> {
    pub fn len(&self) -> u32 {
        self.ready
    }

    pub fn is_empty(&self) -> bool {
        self.ready == 0
    }

    /// Takes every completed frame (length 0) onto `out` and releases the slots.
    #[inline]
    pub fn commit_into(self, out: &mut Vec<Frame>) -> usize {
        for i in 0..self.ready {
            let addr = self.ring.end.read(i);
            self.ring.ledger.from_kernel(addr);
            out.push(Frame::from_raw(addr, 0));
        }
        self.ring.end.release(self.ready);
        self.ready as usize
    }
}

impl std::fmt::Debug for RingRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingRegion").field("entries", &self.entries).field("offsets", &self.offsets).finish()
    }
}
