//! The frame memory of one worker, whatever its ports' drivers: one or more UMEMs, each with
//! the pool of its free frames. Every port a worker polls takes its frames from one of them:
//! a mem or pcap port from the first; AF_XDP sockets share one where the kernel allows it and
//! get one of their own where it does not. Forwarding between two ports of one UMEM moves a
//! frame token and copies no bytes; between two UMEMs the worker copies.

use std::sync::Arc;

use umem::{PoolCache, Umem, UmemConfig};

use crate::af_xdp::UmemOwner;
use crate::error::Error;

/// One UMEM of a worker and its free frames.
pub struct UmemSlot {
    /// The memory the frames live in.
    pub umem: Arc<Umem>,
    /// Its frames that no port and no ring holds.
    pub pool: PoolCache,
    /// For AF_XDP: the socket that registered this UMEM with the kernel, which the worker's
    /// other sockets name to share it.
    pub(crate) xsk_owner: Option<UmemOwner>,
}

/// The UMEMs of one worker: usually one, shared by all its ports.
pub struct Umems {
    /// The UMEMs; a port's frames live in the one [`Umems::slot_of`] names.
    pub slots: Vec<UmemSlot>,
    config: UmemConfig,
}

impl Umems {
    /// Creates the first UMEM; more appear only where a driver cannot use it.
    pub fn new(config: UmemConfig) -> Result<Umems, Error> {
        let mut umems = Umems { slots: Vec::new(), config };
        umems.add()?;
        Ok(umems)
    }

    /// Adds a UMEM like the first; returns its index.
    pub(crate) fn add(&mut self) -> Result<usize, Error> {
        let (umem, frames) = Umem::create(&self.config).map_err(|source| Error::Umem { source })?;
        let pool = PoolCache::owning(frames, umem.frame_size());
        self.slots.push(UmemSlot { umem: Arc::new(umem), pool, xsk_owner: None });
        Ok(self.slots.len() - 1)
    }

    /// The index of the slot holding `umem` (a port's [`crate::Port::umem`]).
    pub fn slot_of(&self, umem: &Arc<Umem>) -> Option<usize> {
        self.slots.iter().position(|slot| Arc::ptr_eq(&slot.umem, umem))
    }
}
