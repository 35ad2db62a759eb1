use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::Frame;

/// Free frames shared by several workers. Workers never touch it per packet: they go through
/// a [`PoolCache`], which moves frames in and out in batches.
#[derive(Debug)]
pub struct FramePool {
    free: ArrayQueue<Frame>,
    frame_size: u32,
}

impl FramePool {
    /// A pool holding `frames` (every frame of one UMEM, usually).
    pub fn new(frames: Vec<Frame>, frame_size: u32) -> Arc<FramePool> {
        let pool = FramePool { free: ArrayQueue::new(frames.len().max(1)), frame_size };
        for mut frame in frames {
            frame.reset(frame_size);
            pool.free.push(frame).expect("the queue was sized for every frame");
        }
        Arc::new(pool)
    }

    /// Free frames in the shared pool now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    fn take(&self) -> Option<Frame> {
        self.free.pop()
    }

    fn give(&self, frame: Frame) {
        // The queue holds every frame of the UMEM, so it is never full.
        self.free.push(frame).expect("a frame pool holds every frame of its UMEM");
    }
}

/// One worker's free frames: a plain vector, no atomics on the hot path. It borrows from and
/// returns to the shared pool in batches when it runs dry or holds too many.
///
/// Multi-buffer packets: the cache also keeps the continuation chunks of the packets its
/// worker holds (a packet's head [`Frame`] is in a burst, the rest of its chunks here, linked
/// by chunk index: [`PoolCache::append`], [`PoolCache::next`], [`PoolCache::take_next`]).
/// Every path that frees a frame already ends in [`PoolCache::put`], and `put` frees the
/// whole chain, so a dropped multi-buffer packet returns every chunk. Chains exist only
/// after [`PoolCache::enable_chains`] (the AF_XDP driver calls it for `mb=1` ports).
#[derive(Debug)]
pub struct PoolCache {
    local: Vec<Frame>,
    shared: Option<Arc<FramePool>>,
    batch: usize,
    high_water: usize,
    frame_size: u32,
    /// `links[i]`: the chunk after chunk `i` of a held multi-buffer packet (empty until
    /// [`PoolCache::enable_chains`]).
    links: Vec<Option<Frame>>,
}

impl PoolCache {
    /// A cache over a shared pool, moving `batch` frames at a time.
    pub fn with_shared(shared: Arc<FramePool>, batch: usize) -> PoolCache {
        let batch = batch.max(1);
        let frame_size = shared.frame_size();
        PoolCache {
            local: Vec::with_capacity(4 * batch),
            shared: Some(shared),
            batch,
            high_water: 2 * batch,
            frame_size,
            links: Vec::new(),
        }
    }

    /// A cache that owns all its frames (one worker, one UMEM: nothing to share).
    pub fn owning(frames: Vec<Frame>, frame_size: u32) -> PoolCache {
        let capacity = frames.len();
        let mut cache = PoolCache {
            local: Vec::with_capacity(capacity),
            shared: None,
            batch: capacity.max(1),
            high_water: usize::MAX,
            frame_size,
            links: Vec::new(),
        };
        for frame in frames {
            cache.put(frame);
        }
        cache
    }

    /// A free frame: data at the start of its chunk, length 0.
    #[inline]
    pub fn get(&mut self) -> Option<Frame> {
        if self.local.is_empty() {
            self.refill();
        }
        self.local.pop()
    }

    /// Gives a frame back (from a drop, a completion, a failed send); a multi-buffer head
    /// brings every chunk of its packet with it.
    #[inline]
    pub fn put(&mut self, mut frame: Frame) {
        if frame.has_next() {
            self.put_chain(&mut frame);
        }
        self.put_one(frame);
    }

    #[inline]
    fn put_one(&mut self, mut frame: Frame) {
        frame.reset(self.frame_size);
        // Never reallocates for an owning cache (sized for every frame); a shared cache
        // spills before it grows past its high-water mark.
        self.local.push(frame);
        if self.local.len() > self.high_water {
            self.spill();
        }
    }

    #[cold]
    fn put_chain(&mut self, head: &mut Frame) {
        let mut next = self.take_next(head);
        while let Some(mut piece) = next {
            next = self.take_next(&mut piece);
            self.put_one(piece);
        }
    }

    /// Makes room to keep the continuation chunks of multi-buffer packets of a UMEM of
    /// `frame_count` frames (once, at setup; the hot path never allocates).
    pub fn enable_chains(&mut self, frame_count: u32) {
        if self.links.len() < frame_count as usize {
            self.links.resize_with(frame_count as usize, || None);
        }
    }

    /// Whether [`PoolCache::enable_chains`] was called.
    pub fn chains_enabled(&self) -> bool {
        !self.links.is_empty()
    }

    #[inline]
    fn link_index(&self, frame: &Frame) -> usize {
        (frame.addr() / u64::from(self.frame_size)) as usize
    }

    /// Appends `piece` to the packet whose head is `head` (after its last chunk). Gives
    /// `piece` back when chains are not enabled or its chunk is outside them.
    pub fn append(&mut self, head: &mut Frame, piece: Frame) -> Result<(), Frame> {
        if piece.has_next() || self.link_index(&piece) >= self.links.len() {
            return Err(piece);
        }
        let head_index = self.link_index(head);
        if head_index >= self.links.len() {
            return Err(piece);
        }
        let last = if head.has_next() {
            // `holder`: the link slot holding the packet's last chunk so far.
            let mut holder = head_index;
            loop {
                let Some(frame) = self.links[holder].as_ref() else { unreachable!("a frame with has_next has a link") };
                if !frame.has_next() {
                    break;
                }
                holder = self.link_index(frame);
            }
            let frame = self.links[holder].as_mut().expect("checked in the loop");
            frame.set_has_next(true);
            (frame.addr() / u64::from(self.frame_size)) as usize
        } else {
            head.set_has_next(true);
            head_index
        };
        self.links[last] = Some(piece);
        Ok(())
    }

    /// The chunk after `frame` in its packet, if any.
    #[inline]
    pub fn next(&self, frame: &Frame) -> Option<&Frame> {
        if !frame.has_next() {
            return None;
        }
        self.links.get(self.link_index(frame))?.as_ref()
    }

    /// The chunk after `frame`, as an exclusive borrow (to write a continuation's bytes).
    #[inline]
    pub fn next_mut(&mut self, frame: &Frame) -> Option<&mut Frame> {
        if !frame.has_next() {
            return None;
        }
        let index = self.link_index(frame);
        self.links.get_mut(index)?.as_mut()
    }

    /// Detaches the chunk after `frame` (which then ends its packet) and hands it over,
    /// with the rest of the chain still behind it.
    #[inline]
    pub fn take_next(&mut self, frame: &mut Frame) -> Option<Frame> {
        if !frame.has_next() {
            return None;
        }
        frame.set_has_next(false);
        let index = self.link_index(frame);
        self.links.get_mut(index)?.take()
    }

    /// Chunks of the packet `head` starts (1 for a single-chunk frame).
    #[inline]
    pub fn pieces(&self, head: &Frame) -> usize {
        let mut n = 1;
        let mut at = head;
        while let Some(next) = self.next(at) {
            n += 1;
            at = next;
        }
        n
    }

    /// Bytes of the whole packet `head` starts (its own length for a single-chunk frame).
    #[inline]
    pub fn packet_len(&self, head: &Frame) -> usize {
        let mut len = head.len();
        let mut at = head;
        while let Some(next) = self.next(at) {
            len += next.len();
            at = next;
        }
        len
    }

    /// Gives back every frame in `frames`.
    #[inline]
    pub fn put_all(&mut self, frames: &mut Vec<Frame>) {
        for frame in frames.drain(..) {
            self.put(frame);
        }
    }

    /// Moves up to `n` free frames onto `out`; returns how many.
    #[inline]
    pub fn get_many(&mut self, out: &mut Vec<Frame>, n: usize) -> usize {
        let mut moved = 0;
        while moved < n {
            match self.get() {
                Some(frame) => {
                    out.push(frame);
                    moved += 1;
                }
                None => break,
            }
        }
        moved
    }

    /// Frames held locally.
    pub fn len(&self) -> usize {
        self.local.len()
    }

    /// No frame held locally.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty()
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }

    fn refill(&mut self) {
        if let Some(shared) = &self.shared {
            for _ in 0..self.batch {
                match shared.take() {
                    Some(frame) => self.local.push(frame),
                    None => break,
                }
            }
        }
    }

    fn spill(&mut self) {
        if let Some(shared) = &self.shared {
            for _ in 0..self.batch {
                match self.local.pop() {
                    Some(frame) => shared.give(frame),
                    None => break,
                }
            }
        }
    }
}

impl Drop for PoolCache {
    fn drop(&mut self) {
        // Frames held by a dying worker go back to the shared pool, not into the void.
        if let Some(shared) = self.shared.take() {
            for frame in self.local.drain(..) {
                shared.give(frame);
            }
            for mut frame in self.links.drain(..).flatten() {
                frame.reset(self.frame_size);
                shared.give(frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Umem, UmemConfig};

    fn frames(n: u32) -> (Umem, Vec<Frame>) {
        Umem::create(&UmemConfig { frame_count: n, ..Default::default() }).unwrap()
    }

    #[test]
    fn caches_borrow_and_return_in_batches() {
        let (_umem, all) = frames(64);
        let pool = FramePool::new(all, 2048);
        let mut a = PoolCache::with_shared(pool.clone(), 8);
        let mut b = PoolCache::with_shared(pool.clone(), 8);
        let fa = a.get().unwrap();
        assert_eq!(a.len(), 7, "took a batch of 8, handed out one");
        assert_eq!(pool.available(), 56);
        let fb = b.get().unwrap();
        assert_ne!(fa.addr(), fb.addr());
        a.put(fa);
        a.put(fb);
        assert_eq!(a.len(), 9);
        drop(a);
        drop(b);
        assert_eq!(pool.available(), 64, "dropped caches give every frame back");
    }

    #[test]
    fn a_cache_spills_above_its_high_water_mark() {
        let (_umem, all) = frames(64);
        let pool = FramePool::new(all, 2048);
        let mut cache = PoolCache::with_shared(pool.clone(), 4);
        let mut held = Vec::new();
        cache.get_many(&mut held, 40);
        assert_eq!(held.len(), 40);
        cache.put_all(&mut held);
        assert!(cache.len() <= 8, "kept {} frames", cache.len());
        assert_eq!(cache.len() + pool.available(), 64);
    }

    #[test]
    fn put_resets_the_frame() {
        let (umem, all) = frames(2);
        let mut cache = PoolCache::owning(all, 2048);
        let mut frame = cache.get().unwrap();
        assert!(umem.write(&mut frame, &[1, 2, 3]));
        cache.put(frame);
        let frame = cache.get().unwrap();
        assert!(frame.is_empty());
        assert_eq!(frame.addr() % 2048, 0);
    }

    #[test]
    fn an_empty_cache_says_so() {
        let (_umem, all) = frames(1);
        let mut cache = PoolCache::owning(all, 2048);
        let frame = cache.get().unwrap();
        assert!(cache.get().is_none());
        cache.put(frame);
        assert!(cache.get().is_some());
    }
}
