use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use memmap2::{MmapMut, MmapOptions};

use crate::{Frame, FrameLedger};

/// How to lay out a UMEM.
#[derive(Clone, Debug)]
pub struct UmemConfig {
    /// Bytes per frame: 2048 or 4096 (the kernel's aligned mode needs a power of two
    /// between 2048 and the page size).
    pub frame_size: u32,
    /// How many frames the area holds.
    pub frame_count: u32,
    /// Ask for 2 MiB huge pages; falls back to normal pages with a message.
    pub hugepages: bool,
    /// Place the frames on this memory node (the NIC's), preferred rather than required;
    /// `None`: wherever the kernel puts them (the first core that touches them).
    pub numa_node: Option<u32>,
}

impl Default for UmemConfig {
    fn default() -> Self {
        UmemConfig { frame_size: 2048, frame_count: 4096, hugepages: false, numa_node: None }
    }
}

/// Ids of UMEMs, unique in the process (0 is never used).
static NEXT_UMEM_ID: AtomicU32 = AtomicU32::new(1);

/// One contiguous area of frames. The kernel reads and writes it too (once `pmd` registers
/// it), so frame bytes are only reached through a [`Frame`] token: whoever holds the token
/// may touch those bytes.
///
/// A frame of another UMEM is refused, never read as the chunk at the same offset here:
/// [`Umem::data`], [`Umem::data_mut`] and [`Umem::buffer_mut`] give an empty slice for it
/// (so a parser sees a runt and drops it), and [`Umem::write`] and [`Umem::adjust_head`]
/// return false. [`Umem::owns`] says beforehand.
pub struct Umem {
    // Kept only to unmap on drop; all access goes through `base`.
    _map: MmapMut,
    base: NonNull<u8>,
    len: usize,
    id: u32,
    frame_size: u32,
    frame_count: u32,
    hugepages: bool,
    numa_node: Option<u32>,
    ledger: FrameLedger,
}

// SAFETY: the area is plain memory; concurrent access to one frame is prevented by the
// `Frame` token discipline (a frame's bytes are only reachable through its unique token).
unsafe impl Send for Umem {}
// SAFETY: as above; `&Umem` alone gives access to no frame bytes without a token.
unsafe impl Sync for Umem {}

impl Umem {
    /// Maps the area and hands out every frame token, once.
    pub fn create(config: &UmemConfig) -> io::Result<(Umem, Vec<Frame>)> {
        let frame_size = config.frame_size;
        if !(frame_size == 2048 || frame_size == 4096) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("frame size {frame_size} is not supported: use 2048 or 4096"),
            ));
        }
        if config.frame_count == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a UMEM needs at least one frame"));
        }
        let len = frame_size as usize * config.frame_count as usize;
        let (mut map, hugepages) = if config.hugepages {
            const HUGE_2M_SHIFT: u8 = 21;
            let huge_len = len.next_multiple_of(1 << HUGE_2M_SHIFT);
            match MmapOptions::new().len(huge_len).huge(Some(HUGE_2M_SHIFT)).map_anon() {
                Ok(map) => (map, true),
                Err(err) => {
                    eprintln!(
                        "umem: no 2 MiB huge pages for {huge_len} bytes ({err}); using normal pages \
                         (reserve some with: echo 512 > /proc/sys/vm/nr_hugepages)"
                    );
                    (MmapOptions::new().len(len).map_anon()?, false)
                }
            }
        } else {
            (MmapOptions::new().len(len).map_anon()?, false)
        };
        let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
        // Before any page is touched: the pages are placed when first faulted in.
        let numa_node =
            config.numa_node.filter(|&node| match crate::numa::prefer_node(base.as_ptr(), map.len(), node) {
                Ok(()) => true,
                Err(err) => {
                    eprintln!("umem: could not place the UMEM on NUMA node {node} ({err}); the kernel places it");
                    false
                }
            });
        let id = NEXT_UMEM_ID.fetch_add(1, Ordering::Relaxed);
        if id == 0 {
            return Err(io::Error::other("more than 2^32 UMEMs created in one process"));
        }
        let umem = Umem {
            _map: map,
            base,
            len,
            id,
            frame_size,
            frame_count: config.frame_count,
            hugepages,
            numa_node,
            ledger: FrameLedger::new(id, frame_size, config.frame_count),
        };
        let frames =
            (0..config.frame_count).map(|i| Frame::from_raw(id, u64::from(i) * u64::from(frame_size), 0)).collect();
        Ok((umem, frames))
    }

    /// This UMEM's id, unique in the process; every frame of it carries it.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether `frame` is a frame of this UMEM.
    #[inline]
    pub fn owns(&self, frame: &Frame) -> bool {
        frame.umem_id() == self.id
    }

    /// Start of the area, for `XDP_UMEM_REG`.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Size of the area in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an area of no bytes (never the case for a created UMEM).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    /// How many frames the area holds.
    pub fn frame_count(&self) -> u32 {
        self.frame_count
    }

    /// Whether the area really sits on huge pages.
    pub fn hugepages(&self) -> bool {
        self.hugepages
    }

    /// The memory node the frames were bound to, if one was asked for and the kernel took it.
    pub fn numa_node(&self) -> Option<u32> {
        self.numa_node
    }

    /// The hand-over bookkeeping the rings of this UMEM share.
    pub fn ledger(&self) -> &FrameLedger {
        &self.ledger
    }

    /// Room from the frame's first data byte to the end of its chunk.
    #[inline]
    pub fn room(&self, frame: &Frame) -> usize {
        (frame.chunk_base(self.frame_size) + u64::from(self.frame_size) - frame.addr()) as usize
    }

    /// The frame's data bytes.
    #[inline]
    pub fn data<'a>(&'a self, frame: &'a Frame) -> &'a [u8] {
        let Some(start) = self.checked_start(frame, frame.len()) else { return &[] };
        // SAFETY: `checked_start` proved [addr, addr+len) lies inside the mapping and inside
        // the frame's own chunk; the shared borrow of the unique token means no `&mut` to
        // these bytes exists in user space.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(start), frame.len()) }
    }

    /// The frame's data bytes, writable.
    #[inline]
    pub fn data_mut<'a>(&'a self, frame: &'a mut Frame) -> &'a mut [u8] {
        let len = frame.len();
        let Some(start) = self.checked_start(frame, len) else { return &mut [] };
        // SAFETY: in bounds as above; the exclusive borrow of the unique token makes this the
        // only user-space reference to these bytes, and the kernel does not touch a frame
        // user space holds.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), len) }
    }

    /// All of the frame's room (from its data start to the end of its chunk), for writing a
    /// new frame; set the length afterwards with [`Frame::set_len`].
    #[inline]
    pub fn buffer_mut<'a>(&'a self, frame: &'a mut Frame) -> &'a mut [u8] {
        let room = self.room(frame);
        let Some(start) = self.checked_start(frame, room) else { return &mut [] };
        // SAFETY: as in `data_mut`; the range ends at the frame's chunk end.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), room) }
    }

    /// Copies `bytes` into the frame (from its data start) and sets its length. Returns false,
    /// changing nothing, when they do not fit.
    pub fn write(&self, frame: &mut Frame, bytes: &[u8]) -> bool {
        if !self.owns(frame) {
            return false;
        }
        let buffer = self.buffer_mut(frame);
        if bytes.len() > buffer.len() {
            return false;
        }
        buffer[..bytes.len()].copy_from_slice(bytes);
        frame.set_len(bytes.len());
        true
    }

    /// Bytes free in front of the frame's data (in its chunk).
    #[inline]
    pub fn headroom(&self, frame: &Frame) -> usize {
        (frame.addr() - frame.chunk_base(self.frame_size)) as usize
    }

    /// The `len` bytes just before the frame's data, in its chunk (where AF_XDP puts a
    /// frame's TX metadata, and a received frame's XDP metadata); `None` when the headroom is shorter (see
    /// [`Umem::reserve_headroom`]) or the frame is another UMEM's.
    #[inline]
    pub fn headroom_mut<'a>(&'a self, frame: &'a mut Frame, len: usize) -> Option<&'a mut [u8]> {
        if !self.owns(frame) || self.headroom(frame) < len {
            return None;
        }
        // Bounds of the data itself (the assertion of `checked_start`).
        let start = self.checked_start(frame, frame.len())? - len;
        // SAFETY: [start, start+len) lies in the frame's own chunk (the headroom is at least
        // `len` bytes, and `checked_start` proved the chunk is inside the mapping); the
        // exclusive borrow of the unique token makes this the only user-space reference to
        // the chunk, and the kernel does not touch a chunk user space holds.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), len) })
    }

    /// Makes sure at least `len` bytes are free in front of the frame's data, moving the
    /// data further into its chunk when they are not (as a grow and shrink of `len` with
    /// [`Umem::adjust_head`] would). Returns false, changing nothing, when the chunk cannot
    /// hold the data behind that much room.
    #[inline]
    pub fn reserve_headroom(&self, frame: &mut Frame, len: usize) -> bool {
        if !self.owns(frame) {
            return false;
        }
        if self.headroom(frame) >= len {
            return true;
        }
        self.adjust_head(frame, len as isize) && self.adjust_head(frame, -(len as isize))
    }

    /// Grows (`delta > 0`) or shrinks (`delta < 0`) the frame at its front, like the XDP
    /// helper `bpf_xdp_adjust_head`: for a header pushed in front (encapsulation) or
    /// stripped (decapsulation). Growing uses the headroom, and when that is too small moves
    /// the data back within the chunk. Returns false, changing nothing, when the chunk
    /// cannot hold the result. New bytes in front are left as they were: the caller writes
    /// them.
    pub fn adjust_head(&self, frame: &mut Frame, delta: isize) -> bool {
        if !self.owns(frame) {
            return false;
        }
        let len = frame.len();
        if delta <= 0 {
            let cut = delta.unsigned_abs();
            if cut > len {
                return false;
            }
            frame.move_to(frame.addr() + cut as u64, len - cut);
            return true;
        }
        let grow = delta as usize;
        let room = self.room(frame);
        let headroom = self.headroom(frame);
        if headroom + room < len + grow {
            return false;
        }
        if headroom < grow {
            // Slide the data back so `grow` bytes fit in front.
            let shift = grow - headroom;
            let buffer = self.buffer_mut(frame);
            buffer.copy_within(0..len, shift);
            frame.move_to(frame.addr() + shift as u64, len);
        }
        frame.move_to(frame.addr() - grow as u64, len + grow);
        true
    }

    /// Where the frame's bytes start in the area: `None` for a frame of another UMEM. A
    /// length past the chunk (set with [`Frame::set_len`]) is the caller's bug and panics
    /// before any memory is touched. Descriptors from the kernel were checked by the ring.
    #[inline]
    fn checked_start(&self, frame: &Frame, len: usize) -> Option<usize> {
        if !self.owns(frame) {
            return None;
        }
        let start = frame.addr();
        let chunk_end = frame.chunk_base(self.frame_size) + u64::from(self.frame_size);
        let end = start.checked_add(len as u64);
        assert!(
            end.is_some_and(|end| end <= chunk_end) && chunk_end <= self.len as u64,
            "frame at {start:#x} with {len} bytes overruns its chunk or the UMEM"
        );
        Some(start as usize)
    }
}

impl std::fmt::Debug for Umem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Umem")
            .field("len", &self.len)
            .field("frame_size", &self.frame_size)
            .field("frame_count", &self.frame_count)
            .field("hugepages", &self.hugepages)
            .field("numa_node", &self.numa_node)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_hands_out_every_frame_once() {
        let (umem, frames) =
            Umem::create(&UmemConfig { frame_size: 2048, frame_count: 8, hugepages: false, numa_node: None }).unwrap();
        assert_eq!(umem.len(), 8 * 2048);
        let addrs: Vec<u64> = frames.iter().map(Frame::addr).collect();
        assert_eq!(addrs, (0..8).map(|i| i * 2048).collect::<Vec<_>>());
    }

    #[test]
    fn write_and_read_back() {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        assert!(umem.write(&mut frame, b"hello"));
        assert_eq!(umem.data(&frame), b"hello");
        umem.data_mut(&mut frame)[0] = b'j';
        assert_eq!(umem.data(&frame), b"jello");
        assert!(!umem.write(&mut frame, &[0; 4096]), "larger than the frame");
        assert_eq!(umem.room(&frame), 2048);
    }

    #[test]
    fn headroom_ends_at_the_data() {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        assert!(umem.headroom_mut(&mut frame, 1).is_none(), "data at the chunk start");
        assert!(umem.write(&mut frame, b"meta:payload"));
        assert!(umem.adjust_head(&mut frame, -5));
        assert_eq!(umem.headroom_mut(&mut frame, 5).unwrap(), b"meta:");
        assert_eq!(umem.headroom_mut(&mut frame, 2).unwrap(), b"a:", "the bytes right before the data");
        umem.headroom_mut(&mut frame, 5).unwrap()[4] = b'=';
        assert!(umem.adjust_head(&mut frame, 5));
        assert_eq!(umem.data(&frame), b"meta=payload");
        let (_other, mut foreign) = Umem::create(&UmemConfig { frame_count: 1, ..Default::default() }).unwrap();
        assert!(umem.headroom_mut(&mut foreign[0], 0).is_none(), "a frame of another UMEM");
    }

    #[test]
    fn adjust_head_pushes_and_strips_headers() {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        assert!(umem.write(&mut frame, b"payload"));
        // No headroom at the chunk start: the data slides back.
        assert!(umem.adjust_head(&mut frame, 4));
        umem.data_mut(&mut frame)[..4].copy_from_slice(b"hdr:");
        assert_eq!(umem.data(&frame), b"hdr:payload");
        assert!(umem.adjust_head(&mut frame, -4));
        assert_eq!(umem.data(&frame), b"payload");
        assert_eq!(umem.headroom(&frame), 4);
        // Now the headroom is used without moving anything.
        assert!(umem.adjust_head(&mut frame, 4));
        assert_eq!(umem.headroom(&frame), 0);
        assert!(!umem.adjust_head(&mut frame, -100), "cannot strip more than there is");
        assert!(!umem.adjust_head(&mut frame, 2048), "cannot grow past the chunk");
        assert_eq!(umem.data(&frame), b"hdr:payload");
    }

    #[test]
    fn headroom_is_reserved_by_moving_the_data_only_when_short() {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        let base = frame.addr();
        assert!(umem.write(&mut frame, b"payload"));
        assert!(umem.headroom_mut(&mut frame, 24).is_none(), "no headroom at the chunk start");
        assert!(umem.reserve_headroom(&mut frame, 24));
        assert_eq!((frame.addr() - base, umem.data(&frame)), (24, &b"payload"[..]));
        umem.headroom_mut(&mut frame, 24).unwrap().copy_from_slice(&[0xaa; 24]);
        assert_eq!(umem.data(&frame), b"payload", "the headroom is not the data");
        // Enough room already: nothing moves.
        assert!(umem.reserve_headroom(&mut frame, 16));
        assert_eq!(frame.addr() - base, 24);
        // A frame that fills its chunk has no room to give.
        let mut full = frames.pop().unwrap();
        assert!(umem.write(&mut full, &[1; 2048]));
        assert!(!umem.reserve_headroom(&mut full, 24));
        assert_eq!(umem.data(&full), &[1; 2048][..]);
    }

    #[test]
    fn rejects_bad_frame_sizes() {
        for size in [0, 1000, 1024, 8192] {
            let err = Umem::create(&UmemConfig { frame_size: size, ..Default::default() }).unwrap_err();
            assert!(err.to_string().contains("2048 or 4096"), "{err}");
        }
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_length_past_the_chunk_panics_before_touching_memory() {
        let (umem, mut frames) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        frame.set_len(3000);
        let _ = umem.data(&frame);
    }

    #[test]
    fn a_frame_of_another_umem_is_refused_not_aliased() {
        let (a, mut frames_a) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        let (b, mut frames_b) = Umem::create(&UmemConfig { frame_count: 2, ..Default::default() }).unwrap();
        assert_ne!(a.id(), b.id());
        let mut fa = frames_a.pop().unwrap();
        let mut fb = frames_b.pop().unwrap();
        assert_eq!(fa.addr(), fb.addr(), "same offset in both areas");
        assert!(b.write(&mut fb, b"bbbb"));
        assert!(a.owns(&fa) && !a.owns(&fb));
        assert!(!a.write(&mut fb, b"aaaa"), "writing b's frame through a is refused");
        assert!(a.data(&fb).is_empty() && a.data_mut(&mut fb).is_empty() && a.buffer_mut(&mut fb).is_empty());
        assert!(!a.adjust_head(&mut fb, 4) && !a.adjust_head(&mut fb, -2));
        assert_eq!(b.data(&fb), b"bbbb", "b's frame is untouched");
        assert!(a.write(&mut fa, b"a"));
        assert_eq!(a.data(&fa), b"a");
    }

    #[test]
    fn hugepages_fall_back_to_normal_pages() {
        // Whether huge pages exist depends on the machine; either way the area works.
        let (umem, mut frames) =
            Umem::create(&UmemConfig { frame_count: 16, hugepages: true, ..Default::default() }).unwrap();
        let mut frame = frames.pop().unwrap();
        assert!(umem.write(&mut frame, &[7; 100]));
        assert_eq!(umem.data(&frame), &[7; 100][..]);
    }

    #[test]
    fn frames_land_on_the_node_asked_for() {
        let Some(node) = (0..crate::numa::node_count() as u32).find(|&n| crate::numa::node_cpus(n).is_some()) else {
            eprintln!("skipped: this kernel shows no NUMA nodes in sysfs");
            return;
        };
        let (umem, mut frames) =
            Umem::create(&UmemConfig { frame_count: 16, numa_node: Some(node), ..Default::default() }).unwrap();
        assert_eq!(umem.numa_node(), Some(node));
        let mut frame = frames.pop().unwrap();
        assert!(umem.write(&mut frame, &[1; 64]));
        let page = umem.data(&frame).as_ptr();
        assert_eq!(crate::numa::node_of_address(page).unwrap(), node);
    }

    #[test]
    fn a_node_past_the_mask_is_refused_and_the_umem_still_made() {
        let (umem, _) =
            Umem::create(&UmemConfig { frame_count: 4, numa_node: Some(5000), ..Default::default() }).unwrap();
        assert_eq!(umem.numa_node(), None);
    }
}
