//! Rules end to end without a network: `dataplane rules check|classify`, and `dataplane run
//! --rules` over capture files (what each rule dropped, passed or forwarded, counted per rule).

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::{last_json, text, TempDir, DATAPLANE};
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use traffic::template::UdpTemplate;

fn dataplane(args: &[&str]) -> Output {
    Command::new(DATAPLANE).args(args).output().unwrap()
}

/// 40 UDP frames 198.18.0.1 -> 198.19.0.1, source ports 1000..1040, destination port 9.
fn write_frames(path: &Path) {
    let mut writer = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for i in 0..40u16 {
        let frame = UdpTemplate { src_port: 1000 + i, ..Default::default() }.build();
        writer.write_packet(&PcapPacket::new(Duration::from_millis(u64::from(i)), frame.len() as u32, &frame)).unwrap();
    }
}

fn src_ports(path: &Path) -> Vec<u16> {
    let mut reader = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut ports = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let data = packet.unwrap().data;
        ports.push(u16::from_be_bytes([data[34], data[35]]));
    }
    ports
}

fn run_pcap(dir: &TempDir, rules: &Path, extra: &[&str]) -> (Output, serde_json::Value, Vec<u16>) {
    let input = dir.path("in.pcap");
    write_frames(&input);
    let output = dir.path("out.pcap");
    let stats = dir.path("stats.jsonl");
    let port = format!("pcap:rx={},tx={}", input.display(), output.display());
    let mut args = vec!["run", "--cores", "0", "--stats-interval", "0", "--action", "reflect", "--port", &port];
    let (rules, stats_s) = (rules.to_str().unwrap(), stats.to_str().unwrap());
    args.extend_from_slice(&["--rules", rules, "--stats-json", stats_s]);
    args.extend_from_slice(extra);
    let out = dataplane(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json = last_json(&std::fs::read_to_string(&stats).unwrap());
    (out, json, src_ports(&output))
}

const RULES: &str = "\
# drop ten flows, let five through early, count the rest
prio 2 protocol ip ip_proto udp src_port 1000-1009 action drop
prio 1 protocol ip ip_proto udp src_port 1005-1014 action pass
prio 2 protocol ip ip_proto udp dst_ip 198.19.0.0/16 src_port 1015 action drop
prio 3 protocol ipv6 ip_proto udp action drop
";

#[test]
fn run_applies_rules_by_priority_and_counts_every_rule() {
    for classifier in ["fast", "linear"] {
        let dir = TempDir::new("rules", &format!("prio-{classifier}"));
        let rules = dir.file("acl.rules", RULES);
        let (_, stats, ports) = run_pcap(&dir, &rules, &["--classifier", classifier]);
        // prio 1 passes 1005..=1014 first; prio 2 drops 1000..=1004 and 1015.
        let expected: Vec<u16> = (1005..1040).filter(|&p| p != 1015).collect();
        assert_eq!(ports, expected, "{classifier}: {stats}");
        let hits: Vec<u64> =
            stats["rules"]["hits"].as_array().unwrap().iter().map(|h| h["hits"].as_u64().unwrap()).collect();
        assert_eq!(hits, vec![5, 10, 1, 0], "{stats}");
        assert_eq!(stats["rules"]["no_match"], 24, "{stats}");
        assert_eq!(stats["rules"]["hits"][1]["line"], 3, "{stats}");
        assert_eq!(stats["drops"]["rule"], 6, "{stats}");
        assert_eq!(stats["totals"]["rx"], 40, "{stats}");
        assert_eq!(stats["totals"]["tx"], 34, "{stats}");
    }
}

#[test]
fn default_drop_drops_what_no_rule_matches_under_its_own_counter() {
    let dir = TempDir::new("rules", "default-drop");
    let rules = dir.file("allow.rules", "ip_proto udp src_port 1030-1039 action pass\n");
    let (_, stats, ports) = run_pcap(&dir, &rules, &["--default", "drop"]);
    assert_eq!(ports, (1030..1040).collect::<Vec<u16>>());
    assert_eq!(stats["drops"]["no_match"], 30, "{stats}");
    assert_eq!(stats["drops"]["rule"], 0, "{stats}");
}

#[test]
fn rule_rewrites_apply_to_matching_frames_only() {
    let dir = TempDir::new("rules", "rewrite");
    let rules =
        dir.file("encap.rules", "ip_proto udp src_port 1000 action encap vxlan,src=198.18.1.1,dst=198.18.1.2,vni=7\n");
    let input = dir.path("in.pcap");
    write_frames(&input);
    let output = dir.path("out.pcap");
    let port = format!("pcap:rx={},tx={}", input.display(), output.display());
    let out = dataplane(&[
        "run",
        "--cores",
        "0",
        "--stats-interval",
        "0",
        "--action",
        "reflect",
        "--csum",
        "fix",
        "--port",
        &port,
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lengths: Vec<usize> = {
        let mut reader = PcapReader::new(File::open(&output).unwrap()).unwrap();
        let mut lengths = Vec::new();
        while let Some(packet) = reader.next_packet() {
            lengths.push(packet.unwrap().data.len());
        }
        lengths
    };
    assert_eq!(lengths.len(), 40);
    assert_eq!(lengths[0], 60 + 50, "the first frame gets a VXLAN/UDP/IPv4/Ethernet header");
    assert!(lengths[1..].iter().all(|&l| l == 60), "{lengths:?}");
}

#[test]
fn a_bad_rule_file_is_refused_with_every_error_and_nothing_runs() {
    let dir = TempDir::new("rules", "bad");
    let rules = dir.file(
        "bad.rules",
        "ip_proto udp dst_port 80 action drop\nip_proto udp dst_prot 80 action drop\nvlan_id 5000 action pass\nip_proto tcp action fwd 3\n",
    );
    let input = dir.path("in.pcap");
    write_frames(&input);
    let port = format!("pcap:rx={},tx={}", input.display(), dir.path("out.pcap").display());
    let out =
        dataplane(&["run", "--cores", "0", "--port", &port, "--action", "reflect", "--rules", rules.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let name = rules.display().to_string();
    assert!(stderr.contains(&format!("{name}:2:")), "{stderr}");
    assert!(stderr.contains(&format!("{name}:3:")), "{stderr}");
    assert!(!dir.path("out.pcap").exists(), "nothing ran");

    // Syntax first; the port check only once the file parses.
    let rules = dir.file("fwd.rules", "ip_proto tcp action fwd 3\n");
    let out =
        dataplane(&["run", "--cores", "0", "--port", &port, "--action", "reflect", "--rules", rules.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:1:", rules.display())) && stderr.contains("fwd 3: this dataplane has 1 port(s)"),
        "{stderr}"
    );
}

#[test]
fn check_reports_ok_or_every_error() {
    let dir = TempDir::new("rules", "check");
    let good = dir.file("good.rules", RULES);
    let out = dataplane(&["rules", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("4 rules OK"), "{}", text(&out.stdout));

    let bad = dir
        .file("bad.rules", "action drop\nip_proto udp dst_port 70000 action drop\nip_proto udp action encap vxlan\n");
    let out = dataplane(&["rules", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let name = bad.display().to_string();
    assert!(stderr.contains(&format!("{name}:2:")), "{stderr}");
    assert!(stderr.contains(&format!("{name}:3:")) && stderr.contains("give the outer addresses"), "{stderr}");
}

#[test]
fn classify_answers_the_first_matching_rule_of_each_trace_packet() {
    let dir = TempDir::new("rules", "classify");
    let rules = dir.file(
        "acl.cb",
        "@10.0.0.0/8 0.0.0.0/0 0 : 65535 80 : 80 0x06/0xFF\n@10.1.0.0/16 0.0.0.0/0 0 : 65535 0 : 65535 0x00/0x00\n@0.0.0.0/0 0.0.0.0/0 0 : 65535 0 : 65535 0x11/0xFF\n",
    );
    // 10.1.2.3 = 167838211
    let trace = dir.file("acl.trace", "167838211 1 5 80 6 0\n167838211 1 5 81 6 0\n1 2 3 4 17 0\n1 2 3 4 6 0\n");
    let out = dataplane(&[
        "rules",
        "classify",
        rules.to_str().unwrap(),
        "--format",
        "classbench",
        "--trace",
        trace.to_str().unwrap(),
        "--json",
        "--repeat",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rules_of: Vec<i64> = lines[..4].iter().map(|l| l["rule"].as_i64().unwrap()).collect();
    assert_eq!(rules_of, vec![0, 1, 2, -1]);
    assert_eq!(lines[4]["packets"], 4);
    assert_eq!(lines[4]["repeat"], 3);
    assert!(lines[4]["mpps"].as_f64().unwrap() > 0.0);
}

/// With chains, `--json` also says where matching ended: the goto's target rule, or no match
/// in the chain it led to.
#[test]
fn classify_follows_goto_into_chains() {
    let dir = TempDir::new("rules", "classify-chains");
    let rules = dir.file(
        "chains.rules",
        "prio 1 ip_proto udp action goto chain 2\nchain 2 ip_proto udp dst_port 53 action drop\n",
    );
    let trace = dir.file(
        "chains.trace",
        "10.0.0.1 10.0.0.2 1000 53 17\n10.0.0.1 10.0.0.2 1000 54 17\n10.0.0.1 10.0.0.2 1000 53 6\n",
    );
    let out = dataplane(&["rules", "classify", rules.to_str().unwrap(), "--trace", trace.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ends: Vec<(i64, &str, i64)> = lines[..3]
        .iter()
        .map(|l| (l["rule"].as_i64().unwrap(), l["outcome"].as_str().unwrap(), l["last_rule"].as_i64().unwrap()))
        .collect();
    assert_eq!(ends, vec![(0, "drop", 1), (0, "no_match", -1), (-1, "no_match", -1)]);
}

#[test]
fn compile_writes_a_tc_batch_with_one_prio_per_rule() {
    let dir = TempDir::new("rules", "compile");
    let rules = dir.file(
        "acl.rules",
        "ip_proto udp dst_port 1000-2000 action drop\nip_proto tcp dst_ip 10.0.0.0/8 action fwd 0\n",
    );
    let out = dataplane(&[
        "rules",
        "compile",
        rules.to_str().unwrap(),
        "--to",
        "tc-u32",
        "--dev",
        "dut0",
        "--port-dev",
        "dut1",
        "--drop-dev",
        "dead0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let batch = text(&out.stdout);
    assert!(batch.contains("filter add dev dut0 ingress prio 1 "), "{batch}");
    assert!(batch.contains("filter add dev dut0 ingress prio 2 protocol ip u32 match ip dst 10.0.0.0/8"), "{batch}");
    assert!(batch.contains("mirred egress redirect dev dut1"), "{batch}");
    assert!(text(&out.stderr).contains("expansion factor"), "{}", text(&out.stderr));

    let out = dataplane(&["rules", "compile", rules.to_str().unwrap(), "--to", "tc-nope", "--dev", "dut0"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("expected one of tc-u32, tc-flower"), "{}", text(&out.stderr));
    // u32 cannot rewrite: refused with the line, nothing written.
    let rules = dir.file("ttl.rules", "ip_proto udp action ttl-dec\n");
    let out = dataplane(&["rules", "compile", rules.to_str().unwrap(), "--to", "tc-u32", "--dev", "dut0"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("line 1 (rule 0)"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
}

/// A network namespace with one veth pair (`ca` <-> `cb`) and a bpffs for pins mounted
/// outside /sys (visible inside `ip netns exec`), all removed on drop.
struct CompileLab {
    netns: testkit::Netns,
    pins: PathBuf,
}

impl CompileLab {
    fn up(tag: &str) -> CompileLab {
        let netns = testkit::Netns::new(&format!("dprc{tag}"));
        netns.add_veth_pair("ca", "cb", 1);
        let pins = std::env::temp_dir().join(testkit::unique_name(&format!("dataplane-pins-{tag}-")));
        std::fs::create_dir_all(&pins).unwrap();
        let lab = CompileLab { netns, pins };
        let out = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&lab.pins).output().unwrap();
        assert!(out.status.success(), "mount -t bpf bpf {}: {}", lab.pins.display(), text(&out.stderr));
        lab
    }

    fn dataplane(&self, args: &[&str]) -> Output {
        self.netns.command(DATAPLANE, args).output().unwrap()
    }

    fn link(&self) -> String {
        self.netns.link_details("ca")
    }

    fn ingress_filters(&self) -> String {
        text(
            &Command::new("tc")
                .args(["-n", self.netns.name(), "filter", "show", "dev", "ca", "ingress"])
                .output()
                .unwrap()
                .stdout,
        )
    }
}

impl Drop for CompileLab {
    fn drop(&mut self) {
        // The namespace goes after this, with the field.
        let _ = Command::new("umount").arg(&self.pins).output();
        let _ = std::fs::remove_dir(&self.pins);
    }
}

#[test]
fn compile_loads_pins_and_attaches_every_bpf_target_and_removes_it() {
    if !common::require_root("compile_loads_pins_and_attaches_every_bpf_target_and_removes_it") {
        return;
    }
    let dir = TempDir::new("rules", "compile-bpf");
    let rules = dir.file("acl.rules", "ip_proto udp dst_port 1000-2000 action drop\nip_proto tcp dst_ip 10.0.0.0/8 action pass\nip_proto udp action fwd 0\n");
    let lab = CompileLab::up("b");
    let pins = lab.pins.to_str().unwrap();
    for target in ["xdp", "tc-bpf", "tc-bpf-per-rule"] {
        let out = lab.dataplane(&[
            "rules",
            "compile",
            rules.to_str().unwrap(),
            "--to",
            target,
            "--dev",
            "ca",
            "--port-dev",
            "cb",
            "--pin-root",
            pins,
        ]);
        assert!(out.status.success(), "{target}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("loaded and attached to ca"), "{target}: {}", text(&out.stderr));
        let pin_dir = lab.pins.join("ca").join(target);
        assert!(pin_dir.exists(), "{target}: nothing pinned at {}", pin_dir.display());
        if target == "xdp" {
            assert!(lab.link().contains("prog/xdp"), "{target}: not attached after the command exited: {}", lab.link());
        } else {
            let filters = lab.ingress_filters();
            let expected = if target == "tc-bpf" { 1 } else { 3 };
            assert_eq!(filters.matches("direct-action").count(), expected, "{target}: {filters}");
        }
        let out = lab.dataplane(&[
            "rules",
            "compile",
            rules.to_str().unwrap(),
            "--to",
            target,
            "--dev",
            "ca",
            "--pin-root",
            pins,
            "--remove",
        ]);
        assert!(out.status.success(), "{target} --remove: {}", text(&out.stderr));
        assert!(!pin_dir.exists(), "{target}: pins left at {}", pin_dir.display());
        assert!(!lab.link().contains("prog/xdp"), "{target}: {}", lab.link());
        assert!(!lab.ingress_filters().contains("bpf"), "{target}: {}", lab.ingress_filters());
    }
}

/// Rules of the shapes an ACL has; the last one is a catch-all for UDP.
fn acl_rules(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n - 1 {
        let (a, b) = ((i >> 8) & 0xff, i & 0xff);
        text.push_str(&match i % 3 {
            0 => format!("ip_proto udp dst_ip 10.{a}.{b}.0/24 dst_port {} action drop\n", 1000 + i),
            1 => format!("ip_proto tcp src_ip 172.16.{b}.0/24 dst_port 1024-65535 action drop\n"),
            _ => format!("ip_proto udp src_ip 192.168.{a}.{b}/32 src_port 2000-2999 action drop\n"),
        });
    }
    text.push_str("ip_proto udp action pass\n");
    text
}

#[test]
fn gen_builds_frames_that_the_classifier_matches_at_the_asked_rule() {
    let dir = TempDir::new("rules", "gen-match");
    let rules = dir.file("acl.rules", &acl_rules(300));
    let rules_s = rules.to_str().unwrap();
    for (which, expected, template) in
        [("first", 0, "udp"), ("last", 299, "udp"), ("151", 151, "tcp"), ("150", 150, "vxlan"), ("152", 152, "geneve")]
    {
        let capture = dir.path(&format!("gen-{which}.pcap"));
        let out = dataplane(&[
            "gen",
            "--template",
            template,
            "--count",
            "20",
            "--flows",
            "4",
            "--rules",
            rules_s,
            "--match-rule",
            which,
            "--pcap",
            capture.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{which}: {}", text(&out.stderr));
        let stats = dir.path("stats.jsonl");
        let port = format!("pcap:rx={}", capture.display());
        let out = dataplane(&[
            "run",
            "--cores",
            "0",
            "--stats-interval",
            "0",
            "--action",
            "drop",
            "--port",
            &port,
            "--rules",
            rules_s,
            "--stats-json",
            stats.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json = last_json(&std::fs::read_to_string(&stats).unwrap());
        assert_eq!(json["rules"]["hits"][expected]["hits"], 20, "{which} ({template}): {}", json["rules"]);
    }
    // A rule no frame of the template can match first is refused before anything is sent.
    let shadowed = dir.file("shadow.rules", "ip_proto udp action pass\nip_proto udp dst_port 9 action drop\n");
    let out = dataplane(&[
        "gen",
        "--count",
        "1",
        "--rules",
        shadowed.to_str().unwrap(),
        "--match-rule",
        "1",
        "--pcap",
        dir.path("x.pcap").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("shadowed"), "{}", text(&out.stderr));
}

/// `PATH:LINE:COL: ` at the start of `line`, as a compiler prints it (LINE and COL numbers).
fn starts_at_position(line: &str, path: &str, want_line: usize) -> bool {
    let Some(rest) = line.strip_prefix(&format!("{path}:{want_line}:")) else { return false };
    let Some((col, message)) = rest.split_once(':') else { return false };
    !col.is_empty() && col.bytes().all(|b| b.is_ascii_digit()) && message.starts_with(' ')
}

/// An error about a rule (or trace) file starts with the file and the place in it, so an
/// editor can jump there; every other error keeps the `dataplane: error:` prefix.
#[test]
fn errors_about_a_file_start_with_its_path_line_and_column() {
    let dir = TempDir::new("rules", "position");
    let input = dir.path("in.pcap");
    write_frames(&input);
    let port = format!("pcap:rx={}", input.display());
    let syntax =
        dir.file("syntax.rules", "ip_proto udp dst_port 80 action drop\nip_proto udp dst_prot 80 action drop\n");
    let fwd = dir.file("fwd.rules", "ip_proto udp action drop\nip_proto tcp action fwd 3\n");
    let shadowed = dir.file("shadowed.rules", "ip_proto udp action drop\nip_proto udp dst_port 53 action drop\n");
    let trace = dir.file("bad.trace", "1 2 3 4 17\n1 2 x 4 17\n");
    let capture = dir.path("gen.pcap");
    let (syntax, fwd, shadowed) = (syntax.to_str().unwrap(), fwd.to_str().unwrap(), shadowed.to_str().unwrap());
    let cases: [(&[&str], &str, usize); 6] = [
        (&["run", "--cores", "0", "--port", &port, "--rules", syntax], syntax, 2),
        // A rule the dataplane cannot carry out: at its action.
        (&["run", "--cores", "0", "--port", &port, "--rules", fwd], fwd, 2),
        (&["rules", "check", syntax], syntax, 2),
        (&["rules", "classify", syntax, "--trace", trace.to_str().unwrap()], syntax, 2),
        (&["rules", "classify", fwd, "--trace", trace.to_str().unwrap()], trace.to_str().unwrap(), 2),
        // No frame can match rule 1 first: said at rule 1.
        (&["gen", "--pcap", capture.to_str().unwrap(), "--rules", shadowed, "--match-rule", "1"], shadowed, 2),
    ];
    for (args, path, line) in cases {
        let out = dataplane(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        assert!(starts_at_position(first, path, line), "{args:?}: the first line is not {path}:{line}:COL:\n{stderr}");
        assert!(!stderr.contains("dataplane: error:"), "{args:?}: {stderr}");
    }
    // A missing rule file has no position: its path first all the same.
    let missing = dir.path("missing.rules");
    let out = dataplane(&["rules", "check", missing.to_str().unwrap()]);
    assert!(text(&out.stderr).starts_with(&format!("{}: ", missing.display())), "{}", text(&out.stderr));
    // An error about no file keeps the prefix.
    let out = dataplane(&["run", "--port", "mem", "--action", "fwd", "--cores", "0"]);
    assert!(text(&out.stderr).starts_with("dataplane: error: --action fwd"), "{}", text(&out.stderr));
}
