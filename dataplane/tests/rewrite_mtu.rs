//! `--rewrite encap:...` past the MTU, end to end: the frame is dropped and counted as
//! `mtu_exceeded` in the stats JSON, and every frame is accounted for (rx = tx + drops).
//! pcap and mem ports have an MTU of 1500 (an af_xdp port takes its interface's).

mod common;

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{last_json, text, TempDir, DATAPLANE};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde_json::Value;
use traffic::template::UdpTemplate;

const VXLAN: &str = "encap:vxlan,src=198.18.0.1,dst=198.18.0.2,vni=7";
/// Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
const VXLAN_OVERHEAD: usize = 50;

/// Runs `dataplane run` with `args`; the final stats JSON line.
fn run(args: &[&str], stats: &Path) -> Value {
    let out = Command::new(DATAPLANE)
        .args(["run", "--cores", "0", "--stats-interval", "0", "--stats-json"])
        .arg(stats)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last = last_json(&std::fs::read_to_string(stats).unwrap());
    assert_eq!(last["final"], true);
    last
}

fn assert_accounted(stats: &Value) {
    let drops: u64 = stats["drops"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let (rx, tx) = (stats["totals"]["rx"].as_u64().unwrap(), stats["totals"]["tx"].as_u64().unwrap());
    assert_eq!(rx, tx + drops, "unaccounted frames: {stats}");
    assert_eq!(stats["totals"]["dropped"].as_u64().unwrap(), drops);
}

#[test]
fn encap_past_a_mem_ports_mtu_is_counted_as_mtu_exceeded() {
    let dir = TempDir::new("rewrite-mtu", "mtu-mem");
    // 1464-byte frames make 1500-byte outer IP packets: they fit exactly. One byte more does not.
    for (size, exceeded) in [(1464, 0), (1465, 64), (1514, 64)] {
        let stats = dir.path(&format!("stats-{size}.jsonl"));
        let port = format!("mem:preload=64,size={size}");
        let last = run(&["--port", &port, "--action", "drop", "--rewrite", VXLAN, "--duration", "0.5"], &stats);
        assert_eq!(last["totals"]["rx"], 64, "{size}: {last}");
        assert_eq!(last["drops"]["mtu_exceeded"], exceeded, "{size}: {last}");
        assert_eq!(last["drops"]["action"], 64 - exceeded, "{size}: {last}");
        assert_accounted(&last);
    }
}

#[test]
fn encap_past_a_pcap_ports_mtu_drops_only_the_frames_too_long() {
    let dir = TempDir::new("rewrite-mtu", "mtu-pcap");
    let (input, output, stats) = (dir.path("in.pcap"), dir.path("out.pcap"), dir.path("stats.jsonl"));
    let sizes = [60, 1000, 1464, 1465, 1500, 1514, 1463];
    let frames: Vec<Vec<u8>> = sizes.iter().map(|&size| UdpTemplate { size, ..Default::default() }.build()).collect();
    let mut writer = PcapWriter::new(File::create(&input).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        writer.write_packet(&PcapPacket::new(Duration::from_millis(i as u64), f.len() as u32, f)).unwrap();
    }
    drop(writer);
    let port = format!("pcap:rx={},tx={}", input.display(), output.display());
    let last = run(&["--port", &port, "--action", "reflect", "--rewrite", VXLAN], &stats);
    let fitting: Vec<&Vec<u8>> = frames.iter().filter(|f| f.len() + VXLAN_OVERHEAD <= 1514).collect();
    assert_eq!(last["totals"]["rx"], sizes.len());
    assert_eq!(last["totals"]["tx"], fitting.len());
    assert_eq!(last["drops"]["mtu_exceeded"], sizes.len() - fitting.len());
    assert_accounted(&last);
    let mut reader = PcapReader::new(File::open(&output).unwrap()).unwrap();
    let mut sent = Vec::new();
    while let Some(packet) = reader.next_packet() {
        sent.push(packet.unwrap().data.into_owned());
    }
    assert_eq!(sent.len(), fitting.len());
    for (out, inner) in sent.iter().zip(fitting) {
        // Reflected (MACs swapped on the outer header), the inner frame carried unchanged.
        assert_eq!(out.len(), inner.len() + VXLAN_OVERHEAD);
        assert_eq!(&out[VXLAN_OVERHEAD..], &inner[..]);
    }
}
