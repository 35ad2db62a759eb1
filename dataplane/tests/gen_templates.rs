//! Every generator template, written with `dataplane gen --pcap`, parses back through the
//! wire code with every checksum right, and tshark (an independent dissector) agrees; bad
//! checksums land at the layer asked for and nowhere else. No root needed.

mod common;

use std::path::Path;
use std::process::Command;

use common::{text, TempDir, DATAPLANE};
use wire::checks::verdicts;
use wire::{walk, WalkConfig};
use wire::{CsumLayer, Status};

/// `dataplane gen --pcap PATH ARGS...`; returns the frames.
fn gen_pcap(path: &Path, args: &[&str]) -> Vec<Vec<u8>> {
    let out = Command::new(DATAPLANE).arg("gen").arg("--pcap").arg(path).args(args).output().unwrap();
    assert!(out.status.success(), "gen {args:?}: {}", text(&out.stderr));
    pmd::pcap::read_capture(path).unwrap()
}

/// Every combination the generator offers, as command-line arguments.
fn variants() -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for template in ["udp", "tcp", "vxlan", "gre", "geneve"] {
        for ipv6 in [false, true] {
            for vlan in [false, true] {
                for size in ["60", "imix"] {
                    let mut args: Vec<String> =
                        ["--template", template, "--size", size, "--flows", "5", "--count", "24"]
                            .map(String::from)
                            .into();
                    if ipv6 {
                        args.push("--ipv6".into());
                    }
                    if vlan {
                        args.extend(["--vlan".into(), "10".into()]);
                    }
                    all.push(args);
                }
            }
        }
    }
    all
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn slot(layer: CsumLayer) -> &'static str {
    layer.name()
}

#[test]
fn every_template_parses_back_with_every_checksum_good() {
    let dir = TempDir::new("gen-templates", "good");
    for (n, args) in variants().iter().enumerate() {
        let path = dir.path(&format!("good-{n}.pcap"));
        let frames = gen_pcap(&path, &strs(args));
        assert_eq!(frames.len(), 24, "{args:?}");
        for (i, frame) in frames.iter().enumerate() {
            let offsets = walk(frame, &WalkConfig::default()).unwrap_or_else(|e| panic!("{args:?} frame {i}: {e}"));
            let v = verdicts(frame, &offsets);
            for layer in CsumLayer::ALL {
                let status = v.get(layer);
                assert!(
                    matches!(status, Status::Good | Status::Absent),
                    "{args:?} frame {i}: {} {status:?}",
                    slot(layer)
                );
            }
            let is_tunnel = ["vxlan", "gre", "geneve"].iter().any(|t| args.contains(&t.to_string()));
            assert_eq!(offsets.tunnel.is_some(), is_tunnel, "{args:?}");
        }
    }
}

#[test]
fn bad_checksums_are_bad_at_the_layer_asked_for_only() {
    let dir = TempDir::new("gen-templates", "bad");
    let cases: [(&str, &[&str]); 5] = [
        ("udp", &["outer_l3", "outer_l4"]),
        ("tcp", &["outer_l3", "outer_l4"]),
        ("vxlan", &["outer_l3", "outer_l4", "inner_l3", "inner_l4"]),
        ("gre", &["outer_l3", "tunnel", "inner_l3", "inner_l4"]),
        ("geneve", &["outer_l3", "outer_l4", "inner_l3", "inner_l4"]),
    ];
    for (template, layers) in cases {
        for &layer in layers {
            let path = dir.path(&format!("bad-{template}-{layer}.pcap"));
            let args = [
                "--template",
                template,
                "--size",
                "imix",
                "--count",
                "12",
                "--bad-csum",
                "100",
                "--bad-csum-layer",
                layer,
            ];
            for (i, frame) in gen_pcap(&path, &args).iter().enumerate() {
                let offsets = walk(frame, &WalkConfig::default()).unwrap();
                let v = verdicts(frame, &offsets);
                for l in CsumLayer::ALL {
                    let status = v.get(l);
                    if l.name() == layer {
                        assert_eq!(status, Status::Bad, "{template} bad {layer}, frame {i}");
                    } else {
                        assert!(
                            matches!(status, Status::Good | Status::Absent),
                            "{template} bad {layer}: {}",
                            l.name()
                        );
                    }
                }
            }
        }
    }
    // A layer the template does not have is refused with the list of those it has.
    let out = Command::new(DATAPLANE)
        .args(["gen", "--pcap", "/dev/null", "--ipv6", "--bad-csum", "5", "--bad-csum-layer", "outer_l3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no outer_l3 checksum; they have: outer_l4"), "{}", text(&out.stderr));
    // Round robin: half the frames bad, each layer in turn.
    let frames = gen_pcap(&dir.path("rr.pcap"), &["--template", "vxlan", "--count", "80", "--bad-csum", "50"]);
    let mut per_layer = [0usize; 5];
    for frame in &frames {
        let v = verdicts(frame, &walk(frame, &WalkConfig::default()).unwrap());
        for (k, l) in CsumLayer::ALL.iter().enumerate() {
            per_layer[k] += usize::from(v.get(*l) == Status::Bad);
        }
    }
    // vxlan over IPv4: outer_l3, outer_l4, inner_l3, inner_l4 take turns; no tunnel checksum.
    assert_eq!(per_layer, [10, 10, 0, 10, 10]);
}

// --- tshark -------------------------------------------------------------------------------

/// The checksum status fields tshark has (PROTO_CHECKSUM_E_*: 0 bad, 1 good, 2 unverified).
const STATUS_FIELDS: [&str; 4] =
    ["ip.checksum.status", "udp.checksum.status", "tcp.checksum.status", "gre.checksum.status"];

/// For each frame, every checksum status tshark gives, as (field, status) in field order.
fn tshark_statuses(capture: &Path) -> Vec<Vec<(&'static str, String)>> {
    let mut args: Vec<String> = [
        "-n",
        "-r",
        capture.to_str().unwrap(),
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-d",
        "udp.port==4789,vxlan",
        "-d",
        "udp.port==6081,geneve",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-E",
        "separator=/t",
    ]
    .map(String::from)
    .into();
    for field in STATUS_FIELDS {
        args.extend(["-e".to_string(), field.to_string()]);
    }
    let out = Command::new("tshark").args(&args).output().expect("running tshark");
    assert!(out.status.success(), "tshark {}: {}", args.join(" "), text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| {
            STATUS_FIELDS
                .iter()
                .zip(line.split('\t'))
                .flat_map(|(field, column)| {
                    column.split(',').filter(|s| !s.is_empty()).map(|s| (*field, s.to_string())).collect::<Vec<_>>()
                })
                .collect()
        })
        .collect()
}

#[test]
fn tshark_finds_every_generated_checksum_good() {
    if !testkit::require_tool("tshark_finds_every_generated_checksum_good", "tshark") {
        return;
    }
    let dir = TempDir::new("gen-templates", "tshark-good");
    for (n, args) in variants().iter().enumerate() {
        let path = dir.path(&format!("tshark-{n}.pcap"));
        let frames = gen_pcap(&path, &strs(args));
        let statuses = tshark_statuses(&path);
        assert_eq!(statuses.len(), frames.len(), "{args:?}");
        for (i, (frame, tshark)) in frames.iter().zip(&statuses).enumerate() {
            let v = verdicts(frame, &walk(frame, &WalkConfig::default()).unwrap());
            let ours = CsumLayer::ALL.iter().filter(|l| v.get(**l) == Status::Good).count();
            assert_eq!(tshark.len(), ours, "{args:?} frame {i}: tshark checked {tshark:?}");
            assert!(tshark.iter().all(|(_, s)| s == "1"), "{args:?} frame {i}: {tshark:?}");
        }
    }
}

#[test]
fn tshark_finds_the_bad_checksum_where_it_was_asked_for() {
    if !testkit::require_tool("tshark_finds_the_bad_checksum_where_it_was_asked_for", "tshark") {
        return;
    }
    let dir = TempDir::new("gen-templates", "tshark-bad");
    // (template, layer, tshark field, which occurrence of it: 0 outer, 1 inner)
    let cases = [
        ("udp", "outer_l3", "ip.checksum.status", 0),
        ("tcp", "outer_l4", "tcp.checksum.status", 0),
        ("vxlan", "outer_l3", "ip.checksum.status", 0),
        ("vxlan", "outer_l4", "udp.checksum.status", 0),
        ("vxlan", "inner_l3", "ip.checksum.status", 1),
        ("vxlan", "inner_l4", "udp.checksum.status", 1),
        ("geneve", "inner_l4", "udp.checksum.status", 1),
        ("gre", "tunnel", "gre.checksum.status", 0),
        ("gre", "inner_l3", "ip.checksum.status", 1),
    ];
    for (template, layer, field, occurrence) in cases {
        let path = dir.path(&format!("tshark-bad-{template}-{layer}.pcap"));
        let args =
            ["--template", template, "--size", "300", "--count", "4", "--bad-csum", "100", "--bad-csum-layer", layer];
        gen_pcap(&path, &args);
        for (i, statuses) in tshark_statuses(&path).iter().enumerate() {
            let bad: Vec<(usize, &&str)> = statuses
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| s == "0")
                .map(|(k, (f, _))| (statuses[..k].iter().filter(|(g, _)| g == f).count(), f))
                .collect();
            assert_eq!(bad, vec![(occurrence, &field)], "{template} {layer} frame {i}: {statuses:?}");
        }
    }
}
