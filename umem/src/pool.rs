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
#[derive(Debug)]
pub struct PoolCache {
    local: Vec<Frame>,
    shared: Option<Arc<FramePool>>,
    batch: usize,
    high_water: usize,
    frame_size: u32,
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

    /// Gives a frame back (from a drop, a completion, a failed send).
    #[inline]
    pub fn put(&mut self, mut frame: Frame) {
        frame.reset(self.frame_size);
        // Never reallocates for an owning cache (sized for every frame); a shared cache
        // spills before it grows past its high-water mark.
        self.local.push(frame);
        if self.local.len() > self.high_water {
            self.spill();
        }
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
