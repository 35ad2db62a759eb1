//! tc's rewriting actions through `dataplane run` on a capture, read back by tshark, an
//! independent dissector: what each pasted line does to the frame (a VLAN tag, pedit's
//! fields, an MPLS entry, a VXLAN tunnel) and that every checksum is right afterwards
//! (tshark verifies the IPv4 and UDP ones when told to).

mod common;

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{text, TempDir, DATAPLANE};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use traffic::template::UdpTemplate;

/// Each rule rewrites the frames of one UDP destination port, then passes them (reflected).
const RULES: &str = "\
tc filter add dev d0 ingress pref 1 proto ip flower ip_proto udp dst_port 1001 action vlan push id 100 priority 5 pipe action pass
tc filter add dev d0 ingress pref 2 proto ip flower ip_proto udp dst_port 1002 action pedit ex munge ip dst set 10.9.8.7 munge ip ttl add 0xff munge udp dport set 53 pipe action pass
tc filter add dev d0 ingress pref 3 proto ip flower ip_proto udp dst_port 1003 action mpls push label 123 ttl 9 pipe action pass
tc filter add dev d0 ingress pref 4 proto ip flower ip_proto udp dst_port 1004 action tunnel_key set src_ip 10.1.1.1 dst_ip 10.1.1.2 id 42 dst_port 4789 pipe action pass
";

/// The fields asked of tshark, in `-e` order.
const FIELDS: [&str; 10] = [
    "vlan.id",
    "vlan.priority",
    "ip.dst",
    "ip.ttl",
    "udp.dstport",
    "mpls.label",
    "mpls.ttl",
    "vxlan.vni",
    "ip.checksum.status",
    "udp.checksum.status",
];

/// Wireshark's "good" checksum status (PROTO_CHECKSUM_E_GOOD in epan/proto.h).
const GOOD: &str = "1";

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut writer = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        writer.write_packet(&PcapPacket::new(Duration::from_millis(i as u64), f.len() as u32, f)).unwrap();
    }
}

/// tshark's fields of every frame of `capture`, each field's occurrences joined by `,`.
fn tshark_fields(capture: &Path) -> Vec<Vec<String>> {
    let mut args: Vec<String> = ["-n", "-r"].map(String::from).to_vec();
    args.push(capture.display().to_string());
    // Checksum validation is off by default for IPv4 and UDP.
    for option in ["ip.check_checksum:TRUE", "udp.check_checksum:TRUE"] {
        args.extend(["-o".to_string(), option.to_string()]);
    }
    args.extend(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"].map(String::from));
    for field in FIELDS {
        args.extend(["-e".to_string(), field.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().expect("running tshark (scripts/ci-deps.sh installs it)");
    let command = format!("tshark {}", args.join(" "));
    assert!(out.status.success(), "{command}: {}", text(&out.stderr));
    text(&out.stdout).lines().map(|line| line.split('\t').map(str::to_string).collect()).collect()
}

#[test]
fn vlan_pedit_mpls_and_tunnel_key_leave_the_frames_tshark_reads() {
    let dir = TempDir::new("tc-actions-tshark", "run");
    let (input, output, rules) = (dir.path("in.pcap"), dir.path("out.pcap"), dir.path("tc.rules"));
    let frames: Vec<Vec<u8>> =
        (1001..=1004).map(|dst_port| UdpTemplate { dst_port, size: 100, ..Default::default() }.build()).collect();
    write_pcap(&input, &frames);
    std::fs::write(&rules, RULES).unwrap();
    let out = Command::new(DATAPLANE)
        .args(["run", "--cores", "0", "--stats-interval", "0", "--action", "reflect", "--default", "drop", "--port"])
        .arg(format!("pcap:rx={},tx={}", input.display(), output.display()))
        .arg("--rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows = tshark_fields(&output);
    assert_eq!(rows.len(), 4, "every frame leaves: {rows:?}");
    let field = |row: &[String], name: &str| row[FIELDS.iter().position(|&f| f == name).unwrap()].clone();
    let sent = UdpTemplate::default();
    // vlan push id 100 priority 5: one 802.1Q tag, the IP packet behind it untouched.
    let vlan = &rows[0];
    assert_eq!((field(vlan, "vlan.id"), field(vlan, "vlan.priority")), ("100".into(), "5".into()), "{vlan:?}");
    assert_eq!(field(vlan, "ip.dst"), sent.dst_ip.to_string(), "{vlan:?}");
    // pedit: the new destination, TTL 64 - 1 and port 53, the IPv4 and UDP checksums good.
    let pedit = &rows[1];
    assert_eq!(
        (field(pedit, "ip.dst"), field(pedit, "ip.ttl"), field(pedit, "udp.dstport")),
        ("10.9.8.7".into(), "63".into(), "53".into()),
        "{pedit:?}"
    );
    // mpls push label 123 ttl 9: one entry after the MACs, the IP packet behind it.
    let mpls = &rows[2];
    assert_eq!((field(mpls, "mpls.label"), field(mpls, "mpls.ttl")), ("123".into(), "9".into()), "{mpls:?}");
    assert_eq!(field(mpls, "ip.dst"), sent.dst_ip.to_string(), "{mpls:?}");
    // tunnel_key set: VXLAN VNI 42 to 10.1.1.2, the original frame inside.
    let vxlan = &rows[3];
    assert_eq!(field(vxlan, "vxlan.vni"), "42", "{vxlan:?}");
    assert_eq!(field(vxlan, "ip.dst"), format!("10.1.1.2,{}", sent.dst_ip), "outer, then inner: {vxlan:?}");
    assert_eq!(field(vxlan, "udp.dstport"), "4789,1004", "{vxlan:?}");
    // Every IPv4 header and UDP checksum of every frame (outer and inner) is right.
    for row in &rows {
        for name in ["ip.checksum.status", "udp.checksum.status"] {
            let statuses = field(row, name);
            assert!(statuses.split(',').all(|s| s == GOOD), "{name} {statuses}: {row:?}");
        }
    }
}
