//! Port specifications in DPDK devargs style:
//!
//! * `af_xdp:iface=NAME[,queues=0-3|all][,mode=auto|copy|zerocopy][,steer=EXPR][,ring=N][,frame=2048|4096][,hugepages=1][,busy_poll=BUDGET][,mb=0|1][,tx_sw_csum=1][,rx_hints=0|1]`
//! * `pcap:rx=IN.pcap[,tx=OUT.pcap]`
//! * `mem[:depth=N,preload=N,size=N]`

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::Error;
use crate::netdev;
use crate::xdp_prog::Steer;

/// `XDP_PACKET_HEADROOM`: the kernel keeps this much room before received data.
pub(crate) const XDP_PACKET_HEADROOM: u32 = 256;

/// What a frame adds to the MTU here: an Ethernet header and one VLAN tag.
pub(crate) const ETH_AND_VLAN: u32 = 14 + 4;

/// One `--port` argument, parsed: which driver and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortSpec {
    /// `af_xdp:iface=NAME,...`: AF_XDP sockets on the interface's queues.
    AfXdp(AfXdpSpec),
    /// `pcap:rx=IN[,tx=OUT]`: replay a capture, write one.
    Pcap(PcapSpec),
    /// `mem[:depth=N,preload=N,size=N]`: an in-memory loopback.
    Mem(MemSpec),
}

/// Zero-copy or copy mode for AF_XDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy if the driver can, else copy.
    Auto,
    /// `XDP_COPY`: the kernel copies frames (every driver).
    Copy,
    /// `XDP_ZEROCOPY`: the driver receives into and sends from the UMEM (fails if it cannot).
    ZeroCopy,
}

/// `af_xdp:` devargs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfXdpSpec {
    /// `iface=`: the interface (in the calling thread's network namespace).
    pub iface: String,
    /// `queues=`: the receive queues to open sockets on.
    pub queues: Vec<u32>,
    /// `mode=`: copy or zero-copy.
    pub mode: BindMode,
    /// `steer=`: which frames go to the sockets (the rest to the kernel).
    pub steer: Steer,
    /// Entries of each ring (fill, completion, rx, tx).
    pub ring_size: u32,
    /// `frame=`: bytes per UMEM frame, 2048 or 4096.
    pub frame_size: u32,
    /// `hugepages=1`: the UMEM on 2 MiB pages.
    pub hugepages: bool,
    /// `queues=all`: every receive queue the interface has; `queues` is filled in by
    /// [`AfXdpSpec::resolve_queues`] once the interface can be asked.
    pub all_queues: bool,
    /// `busy_poll=BUDGET`: preferred busy polling with this NAPI budget per poll; 0 = off.
    pub busy_poll: u32,
    /// `busy_poll=` was written. Only then are a virtual device's NAPI settings changed (a
    /// veth has no NAPI ids for its queues, and `gro_flush_timeout` there only delays its
    /// NAPI); a device with a bus (a NIC) gets them by default.
    pub busy_poll_given: bool,
    /// `mb=0|1`: multi-buffer (`XDP_USE_SG`), frames spanning several UMEM chunks. `None`
    /// (not written): on exactly when the interface's MTU does not fit one chunk after the
    /// kernel's headroom ([`AfXdpSpec::needs_mb`]).
    pub mb: Option<bool>,
    /// `tx_sw_csum=1` (for testing): with `--csum offload`, the UMEM is registered with
    /// `XDP_UMEM_TX_SW_CSUM`, so the kernel completes each requested checksum on the CPU
    /// as it builds the skb (copy mode), whatever the device offers.
    pub tx_sw_csum: bool,
    /// Not a devarg: `--csum offload` sets it. The UMEM is registered with TX metadata so
    /// frames can ask the device for their L4 checksum.
    pub tx_csum_offload: bool,
    /// `rx_hints=0|1`: the device's RX hints (timestamp, RSS hash, VLAN tag) passed to user
    /// space in each frame's metadata area ([`crate::rx_hints`]).
    pub rx_hints: RxHintsMode,
}

/// `rx_hints=`: whether the redirect program reads the device's RX hints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RxHintsMode {
    /// Not written: on where the kernel and device allow it, else off with a notice.
    #[default]
    Auto,
    /// `rx_hints=1`: on, or the port does not open.
    On,
    /// `rx_hints=0`: off (the program writes no metadata; the worker reads none).
    Off,
}

impl AfXdpSpec {
    /// Whether a frame of `mtu` (plus Ethernet and one VLAN header) needs more than one
    /// chunk of `frame_size` bytes after the kernel's `XDP_PACKET_HEADROOM`.
    pub fn needs_mb(mtu: u32, frame_size: u32) -> bool {
        mtu + ETH_AND_VLAN > frame_size - XDP_PACKET_HEADROOM
    }

    /// The TX metadata the socket that registers this port's UMEM asks for.
    pub fn tx_metadata(&self) -> crate::af_xdp::TxMetadata {
        use crate::af_xdp::TxMetadata;
        match (self.tx_csum_offload, self.tx_sw_csum) {
            (false, _) => TxMetadata::Off,
            (true, false) => TxMetadata::Checksum,
            (true, true) => TxMetadata::ChecksumInSoftware,
        }
    }

    /// The default `busy_poll` budget (DPDK's net_af_xdp `busy_budget` default).
    pub const DEFAULT_BUSY_POLL_BUDGET: u32 = 64;

    /// For `queues=all`: lists every receive queue of the interface (in this network
    /// namespace). Other specs are left as they are.
    pub fn resolve_queues(&mut self) -> Result<(), Error> {
        if !self.all_queues {
            return Ok(());
        }
        let count = netdev::rx_queue_count(&self.iface)
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::QueuesUncountable { iface: self.iface.clone() })?;
        self.queues = (0..count).collect();
        Ok(())
    }
}

/// `pcap:` devargs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapSpec {
    /// `rx=`: the capture (pcap or pcapng) to replay once.
    pub rx: PathBuf,
    /// `tx=`: the pcap file sent frames are written to.
    pub tx: Option<PathBuf>,
}

/// An in-memory loopback: what is sent comes back on receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemSpec {
    /// How many frames the loop holds at most.
    pub depth: u32,
    /// Frames put in the loop at start (the caller decides their contents).
    pub preload: u32,
    /// Bytes per preloaded frame.
    pub size: u32,
}

impl MemSpec {
    /// The deepest loop: 262,144 frames (512 MiB of UMEM at 2 KiB per frame). Every frame of
    /// the loop is a UMEM frame, and the UMEM is sized from `depth`, so a bigger number only
    /// asks for memory that no test or bench needs.
    pub const MAX_DEPTH: u32 = 1 << 18;
}

impl Default for MemSpec {
    fn default() -> Self {
        MemSpec { depth: 4096, preload: 1024, size: 60 }
    }
}

impl PortSpec {
    /// Queues a worker can poll (one for pcap and mem).
    pub fn queues(&self) -> Vec<u32> {
        match self {
            PortSpec::AfXdp(spec) => spec.queues.clone(),
            PortSpec::Pcap(_) | PortSpec::Mem(_) => vec![0],
        }
    }
}

/// What a `depth=` must be, in words ([`MemSpec::MAX_DEPTH`] spelled out).
const DEPTH_RANGE: &str = "should be 1 to 262144 frames";
const _: () = assert!(MemSpec::MAX_DEPTH == 262_144, "DEPTH_RANGE says 262144");

impl FromStr for PortSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, args) = text.split_once(':').unwrap_or((text, ""));
        let mut pairs = Vec::new();
        for item in args.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| Error::NotKeyValue { port: text.to_string(), item: item.to_string() })?;
            pairs.push((key, value));
        }
        let unknown = |driver: &'static str, key: &str, known: &'static str| Error::UnknownKey {
            port: text.to_string(),
            driver,
            key: key.to_string(),
            known,
        };
        let bad = |key: &'static str, value: &str, expected: &'static str| Error::Devarg {
            port: text.to_string(),
            key,
            value: value.to_string(),
            expected,
        };
        let number = |key: &'static str, value: &str| parse_number(value, key).map_err(|e| e.in_port(text));
        match kind {
            "af_xdp" => {
                let mut spec = AfXdpSpec {
                    iface: String::new(),
                    queues: vec![0],
                    mode: BindMode::Auto,
                    steer: Steer::default(),
                    ring_size: 2048,
                    frame_size: 2048,
                    hugepages: false,
                    all_queues: false,
                    busy_poll: AfXdpSpec::DEFAULT_BUSY_POLL_BUDGET,
                    busy_poll_given: false,
                    mb: None,
                    tx_sw_csum: false,
                    tx_csum_offload: false,
                    rx_hints: RxHintsMode::Auto,
                };
                for (key, value) in pairs {
                    match key {
                        "iface" => spec.iface = value.to_string(),
                        "queues" | "queue" if value == "all" => spec.all_queues = true,
                        "queues" | "queue" => {
                            spec.all_queues = false;
                            spec.queues = parse_queue_list(value).map_err(|e| e.in_port(text))?
                        }
                        "mode" => {
                            spec.mode = match value {
                                "auto" => BindMode::Auto,
                                "copy" => BindMode::Copy,
                                "zerocopy" | "zc" => BindMode::ZeroCopy,
                                _ => return Err(bad("mode", value, "should be auto, copy or zerocopy")),
                            }
                        }
                        "steer" => spec.steer = value.parse().map_err(|e: Error| e.in_port(text))?,
                        "ring" => {
                            spec.ring_size = number("ring", value)?;
                            if !spec.ring_size.is_power_of_two() || !(64..=16384).contains(&spec.ring_size) {
                                return Err(bad("ring", value, "should be a power of two from 64 to 16384"));
                            }
                        }
                        "frame" => {
                            spec.frame_size = number("frame", value)?;
                            if !(spec.frame_size == 2048 || spec.frame_size == 4096) {
                                return Err(bad("frame", value, "should be 2048 or 4096"));
                            }
                        }
                        "hugepages" => spec.hugepages = parse_bool(value, "hugepages").map_err(|e| e.in_port(text))?,
                        "mb" => spec.mb = Some(parse_bool(value, "mb").map_err(|e| e.in_port(text))?),
                        "tx_sw_csum" => {
                            spec.tx_sw_csum = parse_bool(value, "tx_sw_csum").map_err(|e| e.in_port(text))?
                        }
                        "busy_poll" => {
                            spec.busy_poll_given = true;
                            // The kernel takes SO_BUSY_POLL_BUDGET up to U16_MAX (net/core/sock.c).
                            spec.busy_poll =
                                value.parse().ok().filter(|&b| b <= u32::from(u16::MAX)).ok_or_else(|| {
                                    bad(
                                        "busy_poll",
                                        value,
                                        "should be a NAPI budget from 1 to 65535, or 0 for no busy polling",
                                    )
                                })?;
                        }
                        "rx_hints" => {
                            spec.rx_hints = if parse_bool(value, "rx_hints").map_err(|e| e.in_port(text))? {
                                RxHintsMode::On
                            } else {
                                RxHintsMode::Off
                            }
                        }
                        _ => return Err(unknown(
                            "af_xdp",
                            key,
                            "iface, queues, mode, steer, ring, frame, hugepages, busy_poll, mb, tx_sw_csum, rx_hints",
                        )),
                    }
                }
                if spec.iface.is_empty() {
                    return Err(Error::MissingKey {
                        port: text.to_string(),
                        driver: "af_xdp",
                        needs: "iface=NAME",
                        example: "af_xdp:iface=veth0",
                    });
                }
                Ok(PortSpec::AfXdp(spec))
            }
            "pcap" => {
                let mut rx = None;
                let mut tx = None;
                for (key, value) in pairs {
                    match key {
                        "rx" => rx = Some(PathBuf::from(value)),
                        "tx" => tx = Some(PathBuf::from(value)),
                        _ => return Err(unknown("pcap", key, "rx, tx")),
                    }
                }
                let rx = rx.ok_or_else(|| Error::MissingKey {
                    port: text.to_string(),
                    driver: "pcap",
                    needs: "rx=FILE",
                    example: "pcap:rx=in.pcap,tx=out.pcap",
                })?;
                Ok(PortSpec::Pcap(PcapSpec { rx, tx }))
            }
            "mem" => {
                let mut spec = MemSpec::default();
                for (key, value) in pairs {
                    match key {
                        "depth" => spec.depth = number("depth", value)?,
                        "preload" => spec.preload = number("preload", value)?,
                        "size" => spec.size = number("size", value)?,
                        _ => return Err(unknown("mem", key, "depth, preload, size")),
                    }
                }
                if !(1..=MemSpec::MAX_DEPTH).contains(&spec.depth) {
                    return Err(bad("depth", &spec.depth.to_string(), DEPTH_RANGE));
                }
                if spec.preload > spec.depth {
                    return Err(Error::PreloadExceedsDepth {
                        port: text.to_string(),
                        preload: spec.preload,
                        depth: spec.depth,
                    });
                }
                if !(14..=1514).contains(&spec.size) {
                    return Err(bad("size", &spec.size.to_string(), "should be 14 to 1514"));
                }
                Ok(PortSpec::Mem(spec))
            }
            _ => Err(Error::UnknownPortType { port: text.to_string(), kind: kind.to_string() }),
        }
    }
}

/// A number devarg on its own (the caller names the port: [`Error::in_port`]).
fn parse_number(value: &str, key: &'static str) -> Result<u32, Error> {
    value.parse().map_err(|_| Error::Devarg {
        port: String::new(),
        key,
        value: value.to_string(),
        expected: "is not a number from 0 to 4294967295",
    })
}

fn parse_bool(value: &str, key: &'static str) -> Result<bool, Error> {
    match value {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::Devarg { port: String::new(), key, value: value.to_string(), expected: "should be 1 or 0" }),
    }
}

/// `3` or `0-3` (commas separate devargs keys, so lists are ranges); `all` is handled by
/// the caller.
pub fn parse_queue_list(value: &str) -> Result<Vec<u32>, Error> {
    let bad = || Error::Devarg {
        port: String::new(),
        key: "queues",
        value: value.to_string(),
        expected: "should be N, FIRST-LAST or all, e.g. queues=0-3",
    };
    let (first, last) = match value.split_once('-') {
        Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
        None => {
            let q = value.parse().map_err(|_| bad())?;
            (q, q)
        }
    };
    if first > last || last - first >= 1024 {
        return Err(bad());
    }
    Ok((first..=last).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_af_xdp_with_every_key() {
        let spec: PortSpec =
            "af_xdp:iface=eth1,queues=0-3,mode=copy,steer=udp:4789,ring=4096,frame=4096,hugepages=1".parse().unwrap();
        let PortSpec::AfXdp(spec) = spec else { panic!("not af_xdp") };
        assert_eq!(spec.iface, "eth1");
        assert_eq!(spec.queues, vec![0, 1, 2, 3]);
        assert_eq!(spec.mode, BindMode::Copy);
        assert_eq!(spec.steer.to_string(), "udp:4789");
        assert_eq!((spec.ring_size, spec.frame_size, spec.hugepages), (4096, 4096, true));
        assert_eq!(spec.mb, None, "multi-buffer is decided from the MTU unless written");
    }

    #[test]
    fn mb_is_automatic_unless_written() {
        let mb = |text: &str| match text.parse::<PortSpec>() {
            Ok(PortSpec::AfXdp(spec)) => Ok(spec.mb),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        assert_eq!(mb("af_xdp:iface=x,mb=1").unwrap(), Some(true));
        assert_eq!(mb("af_xdp:iface=x,mb=0").unwrap(), Some(false));
        assert!(mb("af_xdp:iface=x,mb=2").unwrap_err().contains("mb=2 should be 1 or 0"));
        // 1500 + 18 fits 2048 - 256; 1800 does not, 9000 needs 4096 chunks several times.
        assert!(!AfXdpSpec::needs_mb(1500, 2048));
        assert!(AfXdpSpec::needs_mb(1800, 2048));
        assert!(!AfXdpSpec::needs_mb(3000, 4096));
        assert!(AfXdpSpec::needs_mb(9000, 4096));
    }

    #[test]
    fn defaults() {
        let PortSpec::AfXdp(spec) = "af_xdp:iface=veth0".parse().unwrap() else { panic!() };
        assert_eq!((spec.queues, spec.mode, spec.ring_size), (vec![0], BindMode::Auto, 2048));
        assert_eq!("mem".parse::<PortSpec>().unwrap(), PortSpec::Mem(MemSpec::default()));
        let PortSpec::Pcap(p) = "pcap:rx=a.pcap".parse().unwrap() else { panic!() };
        assert_eq!((p.rx, p.tx), (PathBuf::from("a.pcap"), None));
    }

    #[test]
    fn rx_hints_are_auto_unless_written() {
        let mode = |text: &str| match text.parse::<PortSpec>() {
            Ok(PortSpec::AfXdp(spec)) => Ok(spec.rx_hints),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        assert_eq!(mode("af_xdp:iface=x").unwrap(), RxHintsMode::Auto);
        assert_eq!(mode("af_xdp:iface=x,rx_hints=1").unwrap(), RxHintsMode::On);
        assert_eq!(mode("af_xdp:iface=x,rx_hints=0").unwrap(), RxHintsMode::Off);
        let err = mode("af_xdp:iface=x,rx_hints=maybe").unwrap_err();
        assert!(err.contains("rx_hints") && err.contains("should be 1 or 0"), "{err}");
        assert!(mode("af_xdp:iface=x,hints=1").unwrap_err().contains("rx_hints"), "the known keys name it");
    }

    #[test]
    fn busy_poll_budget_is_on_by_default_and_zero_turns_it_off() {
        let budget = |text: &str| match text.parse::<PortSpec>() {
            Ok(PortSpec::AfXdp(spec)) => Ok(spec.busy_poll),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        assert_eq!(budget("af_xdp:iface=x").unwrap(), 64);
        assert_eq!(budget("af_xdp:iface=x,busy_poll=0").unwrap(), 0);
        assert_eq!(budget("af_xdp:iface=x,busy_poll=64").unwrap(), 64);
        assert_eq!(budget("af_xdp:iface=x,busy_poll=65535").unwrap(), 65535);
        for bad in ["busy_poll=65536", "busy_poll=fast", "busy_poll=-1", "busy_poll="] {
            let err = budget(&format!("af_xdp:iface=x,{bad}")).unwrap_err();
            assert!(err.contains("should be a NAPI budget from 1 to 65535, or 0"), "{bad}: {err}");
        }
    }

    #[test]
    fn tx_sw_csum_is_a_flag_and_the_tx_metadata_follows_csum_offload() {
        use crate::af_xdp::TxMetadata;
        let spec = |text: &str| match text.parse::<PortSpec>() {
            Ok(PortSpec::AfXdp(spec)) => Ok(spec),
            Ok(other) => panic!("{other:?}"),
            Err(err) => Err(err.to_string()),
        };
        let plain = spec("af_xdp:iface=x").unwrap();
        assert!(!plain.tx_sw_csum && !plain.tx_csum_offload);
        assert_eq!(plain.tx_metadata(), TxMetadata::Off);
        let mut sw = spec("af_xdp:iface=x,tx_sw_csum=1").unwrap();
        assert!(sw.tx_sw_csum);
        assert_eq!(sw.tx_metadata(), TxMetadata::Off, "without --csum offload, no metadata");
        sw.tx_csum_offload = true;
        assert_eq!(sw.tx_metadata(), TxMetadata::ChecksumInSoftware);
        let mut hw = spec("af_xdp:iface=x,tx_sw_csum=0").unwrap();
        hw.tx_csum_offload = true;
        assert_eq!(hw.tx_metadata(), TxMetadata::Checksum);
        let err = spec("af_xdp:iface=x,tx_sw_csum=maybe").unwrap_err();
        assert!(err.contains("tx_sw_csum") && err.contains("should be 1 or 0"), "{err}");
        let err = spec("af_xdp:iface=x,tx_csum=1").unwrap_err();
        assert!(err.contains("tx_sw_csum"), "the known keys are listed: {err}");
    }

    #[test]
    fn queues_all_is_resolved_from_the_interface() {
        let PortSpec::AfXdp(mut spec) = "af_xdp:iface=lo,queues=all".parse().unwrap() else { panic!() };
        assert!(spec.all_queues);
        // A later queues= wins, as every repeated key does.
        let PortSpec::AfXdp(listed) = "af_xdp:iface=lo,queues=all,queues=1".parse().unwrap() else { panic!() };
        assert_eq!((listed.all_queues, listed.queues), (false, vec![1]));
        // lo has one receive queue in every network namespace.
        spec.resolve_queues().unwrap();
        assert_eq!(spec.queues, vec![0]);
        let PortSpec::AfXdp(mut missing) = "af_xdp:iface=no-such-if0,queues=all".parse().unwrap() else { panic!() };
        let err = missing.resolve_queues().unwrap_err().to_string();
        assert!(err.contains("queues=all: cannot count the receive queues of no-such-if0"), "{err}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("foo:bar=1", "unknown port type 'foo'"),
            ("af_xdp:queues=1", "needs iface=NAME"),
            ("af_xdp:iface=x,color=red", "unknown key 'color'"),
            ("af_xdp:iface=x,mode=fast", "auto, copy or zerocopy"),
            ("af_xdp:iface=x,queues=3-1", "FIRST-LAST"),
            ("af_xdp:iface=x,ring=1000", "power of two"),
            ("af_xdp:iface=x,frame=1500", "2048 or 4096"),
            ("af_xdp:iface", "key=value"),
            ("pcap:tx=out.pcap", "needs rx=FILE"),
            ("mem:preload=10,depth=5", "exceeds depth"),
            ("mem:depth=0", "depth=0 should be 1 to 262144"),
            ("mem:depth=262145", "depth=262145 should be 1 to 262144"),
            ("mem:depth=4294967295", "should be 1 to 262144"),
            ("mem:depth=4294967296", "depth=4294967296 is not a number from 0 to 4294967295"),
            ("mem:depth=-1", "is not a number"),
            ("mem:size=99999999999999999999", "size=99999999999999999999 is not a number"),
            ("af_xdp:iface=x,ring=4294967296", "ring=4294967296 is not a number"),
            ("af_xdp:iface=x,ring=2147483648", "power of two from 64 to 16384"),
            ("af_xdp:iface=x,queues=0-4294967295", "FIRST-LAST"),
            ("af_xdp:iface=x,queues=4294967296", "FIRST-LAST"),
        ];
        for (text, expected) in cases {
            let err = text.parse::<PortSpec>().unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let PortSpec::Mem(deepest) = "mem:depth=262144,preload=262144".parse().unwrap() else { panic!("not mem") };
        assert_eq!((deepest.depth, deepest.preload), (MemSpec::MAX_DEPTH, MemSpec::MAX_DEPTH));
    }
}
