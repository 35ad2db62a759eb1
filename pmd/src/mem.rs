//! An in-memory loopback port: frames sent come back on receive, in order. For tests and
//! benchmarks: it measures the cost of everything but the kernel.

use std::collections::VecDeque;
use std::sync::Arc;

use umem::{Frame, PoolCache, Umem};

use crate::port::Port;

/// The loopback port: a queue of frames, [`MemPort::inject`] to put frames on it.
pub struct MemPort {
    umem: Arc<Umem>,
    wire: VecDeque<Frame>,
    depth: usize,
}

impl MemPort {
    /// A loop holding at most `depth` frames.
    pub fn new(umem: Arc<Umem>, depth: usize) -> MemPort {
        MemPort { umem, wire: VecDeque::with_capacity(depth), depth }
    }

    /// Puts a frame with `bytes` on the loop (from `pool`); false if the pool is empty, the
    /// loop is full or the bytes do not fit a frame.
    pub fn inject(&mut self, pool: &mut PoolCache, bytes: &[u8]) -> bool {
        if self.wire.len() >= self.depth {
            return false;
        }
        let Some(mut frame) = pool.get() else { return false };
        if !self.umem.write(&mut frame, bytes) {
            pool.put(frame);
            return false;
        }
        self.wire.push_back(frame);
        true
    }

    /// Frames on the loop now.
    pub fn len(&self) -> usize {
        self.wire.len()
    }

    /// No frame on the loop.
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }
}

impl Port for MemPort {
    fn describe(&self) -> String {
        "mem".to_string()
    }

    fn umem(&self) -> &Arc<Umem> {
        &self.umem
    }

    #[inline]
    fn rx_burst(&mut self, _pool: &mut PoolCache, out: &mut Vec<Frame>, max: usize) -> usize {
        let n = max.min(self.wire.len());
        out.extend(self.wire.drain(..n));
        n
    }

    #[inline]
    fn tx_burst(&mut self, _pool: &mut PoolCache, frames: &mut Vec<Frame>) -> usize {
        let n = frames.len().min(self.depth - self.wire.len());
        self.wire.extend(frames.drain(..n));
        n
    }

    fn finish(&mut self, pool: &mut PoolCache) -> std::io::Result<()> {
        for frame in self.wire.drain(..) {
            pool.put(frame);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use umem::UmemConfig;

    #[test]
    fn sent_frames_come_back_in_order() {
        let (umem, frames) = Umem::create(&UmemConfig { frame_count: 8, ..Default::default() }).unwrap();
        let umem = Arc::new(umem);
        let mut pool = PoolCache::owning(frames, 2048);
        let mut port = MemPort::new(umem.clone(), 4);
        for i in 0..4u8 {
            assert!(port.inject(&mut pool, &[i; 60]));
        }
        assert!(!port.inject(&mut pool, &[9; 60]), "the loop is full");
        let mut burst = Vec::new();
        assert_eq!(port.rx_burst(&mut pool, &mut burst, 3), 3);
        assert_eq!(umem.data(&burst[0])[0], 0);
        assert_eq!(umem.data(&burst[2])[0], 2);
        assert_eq!(port.tx_burst(&mut pool, &mut burst), 3);
        let mut again = Vec::new();
        port.rx_burst(&mut pool, &mut again, 64);
        let firsts: Vec<u8> = again.iter().map(|f| umem.data(f)[0]).collect();
        assert_eq!(firsts, vec![3, 0, 1, 2]);
        pool.put_all(&mut again);
        port.finish(&mut pool).unwrap();
        assert_eq!(pool.len(), 8);
    }

    #[test]
    fn a_full_loop_leaves_unsent_frames_with_the_caller() {
        let (umem, frames) = Umem::create(&UmemConfig { frame_count: 8, ..Default::default() }).unwrap();
        let mut pool = PoolCache::owning(frames, 2048);
        let mut port = MemPort::new(Arc::new(umem), 2);
        let mut burst = Vec::new();
        pool.get_many(&mut burst, 5);
        assert_eq!(port.tx_burst(&mut pool, &mut burst), 2);
        assert_eq!(burst.len(), 3);
    }
}
