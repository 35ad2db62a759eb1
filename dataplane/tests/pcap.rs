//! The pcap port end to end: `dataplane run` reflects a capture into another capture.

mod common;

use std::borrow::Cow;
use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{last_json, text, TempDir, DATAPLANE};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use traffic::template::UdpTemplate;

fn frames() -> Vec<Vec<u8>> {
    (0..50u16)
        .map(|i| {
            let mut t = UdpTemplate { size: 60 + usize::from(i) * 29, src_port: 1000 + i, ..Default::default() };
            t.src_mac[5] = i as u8;
            t.build()
        })
        .collect()
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut writer = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        writer.write_packet(&PcapPacket::new(Duration::from_millis(i as u64), f.len() as u32, f)).unwrap();
    }
}

fn write_pcapng(path: &Path, frames: &[Vec<u8>]) {
    let mut writer = PcapNgWriter::new(File::create(path).unwrap()).unwrap();
    let interface = InterfaceDescriptionBlock { linktype: DataLink::ETHERNET, snaplen: 0, options: vec![] };
    writer.write_pcapng_block(interface).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let packet = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(i as u64),
            original_len: f.len() as u32,
            data: Cow::Borrowed(f),
            options: vec![],
        };
        writer.write_pcapng_block(packet).unwrap();
    }
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = reader.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}

fn reflect_through(input: &Path, output: &Path) -> serde_json::Value {
    let stats = input.with_extension("jsonl");
    let out = Command::new(DATAPLANE)
        .args(["run", "--cores", "0", "--stats-interval", "0", "--action", "reflect", "--port"])
        .arg(format!("pcap:rx={},tx={}", input.display(), output.display()))
        .arg("--stats-json")
        .arg(&stats)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    last_json(&std::fs::read_to_string(&stats).unwrap())
}

fn check_reflected(input: &[Vec<u8>], output: &[Vec<u8>]) {
    assert_eq!(output.len(), input.len());
    for (sent, back) in input.iter().zip(output) {
        assert_eq!(back.len(), sent.len());
        assert_eq!(&back[0..6], &sent[6..12], "destination is the old source");
        assert_eq!(&back[6..12], &sent[0..6], "source is the old destination");
        assert_eq!(&back[12..], &sent[12..], "the rest is untouched");
    }
}

#[test]
fn reflecting_a_pcap_swaps_every_mac_and_keeps_the_rest() {
    let dir = TempDir::new("pcap", "pcap");
    let (input, output) = (dir.path("in.pcap"), dir.path("out.pcap"));
    let frames = frames();
    write_pcap(&input, &frames);
    let stats = reflect_through(&input, &output);
    check_reflected(&frames, &read_pcap(&output));
    assert_eq!(stats["totals"]["rx"], 50);
    assert_eq!(stats["totals"]["tx"], 50);
    assert_eq!(stats["totals"]["dropped"], 0);
}

#[test]
fn pcapng_input_works_too() {
    let dir = TempDir::new("pcap", "pcapng");
    let (input, output) = (dir.path("in.pcapng"), dir.path("out.pcap"));
    let frames = frames();
    write_pcapng(&input, &frames);
    reflect_through(&input, &output);
    check_reflected(&frames, &read_pcap(&output));
}

#[test]
fn the_port_refuses_a_capture_that_is_not_ethernet_and_inspect_reads_it() {
    let dir = TempDir::new("pcap", "sll");
    let path = dir.path("cooked.pcap");
    let header = pcap_file::pcap::PcapHeader { datalink: DataLink::LINUX_SLL, ..Default::default() };
    let mut writer = PcapWriter::with_header(File::create(&path).unwrap(), header).unwrap();
    let mut frame = vec![0, 0, 0, 1, 0, 6, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    frame.extend_from_slice(&frames()[0][14..]);
    frame.drain(14..16); // a 16-byte SLL header: protocol right after the 8 address bytes
    writer.write_packet(&PcapPacket::new(Duration::ZERO, frame.len() as u32, &frame)).unwrap();
    drop(writer);
    let out = Command::new(DATAPLANE)
        .args(["run", "--cores", "0", "--port"])
        .arg(format!("pcap:rx={}", path.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("linux_sll (113)") && stderr.contains("Ethernet captures only"), "{stderr}");
    let out = Command::new(DATAPLANE).arg("inspect").arg(&path).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(line["layers"], serde_json::json!(["sll", "ipv4", "udp"]), "{line}");
    assert_eq!(line["link"], "linux_sll");
    assert_eq!(line["csum"]["outer_l4"], "good", "{line}");
}

#[test]
fn a_missing_capture_is_a_clear_error() {
    let out = Command::new(DATAPLANE)
        .args(["run", "--cores", "0", "--port", "pcap:rx=/nonexistent/in.pcap"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/in.pcap"), "{}", text(&out.stderr));
}

#[test]
fn gen_writes_its_frames_to_a_capture() {
    let dir = TempDir::new("pcap", "gen");
    let path = dir.path("gen.pcap");
    let out =
        Command::new(DATAPLANE).args(["gen", "--count", "3", "--size", "128", "--pcap"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let frames = read_pcap(&path);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.len() == 128));
    // The plain UDP template's headers (up to the UDP checksum, which covers the stamp),
    // then the stamp with each frame's sequence number.
    let plain = UdpTemplate { size: 128, ..Default::default() }.build();
    for (seq, frame) in frames.iter().enumerate() {
        assert_eq!(frame[..40], plain[..40]);
        let stamp = traffic::stamp::Stamp::read(&frame[42..]).expect("a stamp after the UDP header");
        assert_eq!((stamp.seq, stamp.sequenced), (seq as u64, true));
    }
}

/// A capture's errors start with its path, then the record (a capture has no lines): the
/// first line of stderr of a truncated file names it.
#[test]
fn errors_about_a_capture_start_with_its_path_and_record() {
    let dir = TempDir::new("pcap", "truncated");
    let path = dir.path("cut.pcap");
    write_pcap(&path, &frames()[..3]);
    let len = std::fs::metadata(&path).unwrap().len();
    File::options().write(true).open(&path).unwrap().set_len(len - 10).unwrap();
    let out = Command::new(DATAPLANE).arg("inspect").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with(&format!("{}: record 2: ", path.display())), "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with(&format!("{}: ", path.display()))), "{stderr}");
    // Not a capture at all: the path first too.
    std::fs::write(&path, b"no").unwrap();
    let out = Command::new(DATAPLANE).arg("inspect").arg(&path).output().unwrap();
    assert!(text(&out.stderr).starts_with(&format!("{}: not a capture file", path.display())), "{}", text(&out.stderr));
}
