//! Opening one queue of a port, whatever its driver: the one call `dataplane run` makes per
//! port and queue. AF_XDP needs its interface prepared first, once for all its queues
//! ([`AfXdpDevice::open`]: program and XSK map loaded, nothing attached), and attached after
//! every queue of every worker is open ([`AfXdpDevice::attach`]), so [`open`] takes the
//! prepared device; pcap and mem ports need nothing before.

use crate::af_xdp::AfXdpDevice;
use crate::error::Error;
use crate::mem::MemPort;
use crate::pcap::PcapPort;
use crate::port::Port;
use crate::spec::PortSpec;
use crate::umems::Umems;

/// What [`open`] needs besides the spec and the queue.
pub struct OpenWith<'a> {
    /// The worker's UMEMs: the port's frames come from one of them ([`Umems::slot_of`] of
    /// [`Port::umem`] says which); AF_XDP adds one where the kernel will not share.
    pub umems: &'a mut Umems,
    /// For `af_xdp`: the interface, prepared by [`AfXdpDevice::open`] from this spec.
    pub device: Option<&'a AfXdpDevice>,
    /// For `mem`: the bytes of each of the `preload=` frames put on the loop.
    pub preload: &'a [u8],
}

/// Opens queue `queue` of the port `spec` names (0 for pcap and mem, which have one).
///
/// ```
/// use pmd::{OpenWith, PortSpec, Umems};
/// use umem::UmemConfig;
///
/// let spec: PortSpec = "mem:depth=64,preload=8,size=60".parse()?;
/// let mut umems = Umems::new(UmemConfig { frame_count: 256, ..Default::default() })?;
/// let mut port = pmd::open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &[0xab; 60] })?;
/// let slot = umems.slot_of(port.umem()).expect("frames from the worker's UMEM");
/// let mut frames = Vec::new();
/// assert_eq!(port.rx_burst(&mut umems.slots[slot].pool, &mut frames, pmd::BURST), 8);
/// # umems.slots[slot].pool.put_all(&mut frames);
/// # Ok::<(), pmd::Error>(())
/// ```
pub fn open(spec: &PortSpec, queue: u32, with: OpenWith<'_>) -> Result<Box<dyn Port>, Error> {
    let umems = with.umems;
    match spec {
        PortSpec::AfXdp(spec) => {
            let device = with.device.ok_or_else(|| Error::NotOpened { iface: spec.iface.clone() })?;
            debug_assert_eq!(device.name(), spec.iface, "the device opened for this spec");
            let (port, _slot) = device.open_queue(queue, umems)?;
            Ok(Box::new(port))
        }
        PortSpec::Pcap(spec) => Ok(Box::new(PcapPort::open(spec, umems.slots[0].umem.clone())?)),
        PortSpec::Mem(spec) => {
            let slot = &mut umems.slots[0];
            let mut port = MemPort::new(slot.umem.clone(), spec.depth as usize);
            for _ in 0..spec.preload {
                if !port.inject(&mut slot.pool, with.preload) {
                    return Err(Error::MemPreload { preload: spec.preload });
                }
            }
            Ok(Box::new(port))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use umem::UmemConfig;

    fn umems() -> Umems {
        Umems::new(UmemConfig { frame_count: 256, ..Default::default() }).unwrap()
    }

    #[test]
    fn a_mem_spec_opens_a_loop_holding_its_preloaded_frames() {
        let spec: PortSpec = "mem:depth=16,preload=5,size=60".parse().unwrap();
        let mut umems = umems();
        let frame = [0x5a; 60];
        let mut port = open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &frame }).unwrap();
        assert_eq!(port.describe(), "mem");
        assert!(port.counters().is_none() && !port.zerocopy());
        let slot = umems.slot_of(port.umem()).expect("the port's UMEM is the worker's");
        let umem = umems.slots[slot].umem.clone();
        let pool = &mut umems.slots[slot].pool;
        let mut burst = Vec::new();
        assert_eq!(port.rx_burst(pool, &mut burst, 64), 5);
        assert!(burst.iter().all(|f| umem.data(f) == frame));
        pool.put_all(&mut burst);
        assert_eq!(pool.len(), 256);
    }

    #[test]
    fn a_mem_preload_the_umem_cannot_hold_is_an_error() {
        let spec: PortSpec = "mem:depth=512,preload=300".parse().unwrap();
        let mut umems = umems();
        let err = open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &[0; 60] }).err().unwrap();
        assert_eq!(err.to_string(), "mem port: could not preload 300 frames");
    }

    #[test]
    fn a_pcap_spec_replays_its_file_and_writes_the_other() {
        let dir = std::env::temp_dir().join(format!("pmd-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (rx, tx) = (dir.join("in.pcap"), dir.join("out.pcap"));
        let frames: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 60 + usize::from(i)]).collect();
        let mut writer = crate::pcap::create_capture(&rx).unwrap();
        for frame in &frames {
            let packet = pcap_file::pcap::PcapPacket::new(std::time::Duration::ZERO, frame.len() as u32, frame);
            writer.write_packet(&packet).unwrap();
        }
        drop(writer);

        let spec: PortSpec = format!("pcap:rx={},tx={}", rx.display(), tx.display()).parse().unwrap();
        let mut umems = umems();
        let mut port = open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &[] }).unwrap();
        assert_eq!(port.describe(), format!("pcap:{}", rx.display()));
        let slot = umems.slot_of(port.umem()).unwrap();
        let pool = &mut umems.slots[slot].pool;
        let mut burst = Vec::new();
        assert_eq!(port.rx_burst(pool, &mut burst, 64), 3);
        assert!(port.rx_exhausted());
        assert_eq!(port.tx_burst(pool, &mut burst), 3);
        port.finish(pool).unwrap();
        assert_eq!(crate::pcap::read_capture(&tx).unwrap(), frames, "what was sent is in the output file");

        let missing: PortSpec = format!("pcap:rx={}", dir.join("none.pcap").display()).parse().unwrap();
        let err = open(&missing, 0, OpenWith { umems: &mut umems, device: None, preload: &[] }).err().unwrap();
        assert!(matches!(err, Error::Capture { .. }), "{err:?}");
        assert!(err.to_string().contains("none.pcap"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_af_xdp_spec_needs_its_device() {
        let spec: PortSpec = "af_xdp:iface=veth9".parse().unwrap();
        let mut umems = umems();
        let err = open(&spec, 0, OpenWith { umems: &mut umems, device: None, preload: &[] }).err().unwrap();
        assert!(matches!(&err, Error::NotOpened { iface } if iface == "veth9"), "{err:?}");
    }
}
