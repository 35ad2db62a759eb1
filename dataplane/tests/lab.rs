//! `dataplane lab` end to end (root): a tiny matrix over every target, and an injected
//! failure that must leave no namespace, process or pinned object behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{require_root, DATAPLANE};

const CONTRACT: &str = "target,rules,match,action,size,traffic,offered_pps,processed_pps,delivered_pps,delivered_gbps,loss_pct,dut_cpu_ns_per_pkt";
const TARGETS: [&str; 7] = ["dataplane", "tc-u32", "tc-flower", "tc-bpf", "tc-bpf-per-rule", "xdp", "dpdk-testpmd"];

fn out_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lab-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The namespaces, processes and bpffs pins a lab with this prefix could have left.
fn leftovers(prefix: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(prefix) {
                found.push(format!("namespace {name}"));
            }
        }
    }
    // Processes whose command line names one of this lab's namespaces or files.
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args = String::from_utf8_lossy(&raw).replace('\0', " ");
            if args.contains(&format!("{prefix}p")) {
                found.push(format!("process {}: {}", entry.file_name().to_string_lossy(), args.trim()));
            }
        }
    }
    if Path::new(&format!("/tmp/dataplane-lab-{prefix}")).exists() {
        found.push(format!("work directory /tmp/dataplane-lab-{prefix}"));
    }
    if Path::new(&format!("/var/run/dpdk/{prefix}-tp")).exists() {
        found.push(format!("/var/run/dpdk/{prefix}-tp"));
    }
    found
}

fn lab(prefix: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(DATAPLANE)
        .args(["lab", "--profile", "smoke", "--seconds", "0.3", "--prefix", prefix, "--out"])
        .arg(out)
        .args(extra)
        .env_remove("DATAPLANE_LAB_INJECT")
        .output()
        .expect("running dataplane lab")
}

fn csv_rows(out: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(out.join("results.csv")).expect("results.csv");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").to_string();
    // No field the lab writes has a quote inside a number; split quoted reasons correctly.
    let rows = lines
        .map(|l| {
            let mut fields = Vec::new();
            let (mut cur, mut quoted) = (String::new(), false);
            for c in l.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut cur)),
                    _ => cur.push(c),
                }
            }
            fields.push(cur);
            fields
        })
        .collect();
    (header, rows)
}

#[test]
fn smoke_matrix_has_a_row_for_every_target_and_leaves_nothing() {
    if !require_root("smoke_matrix_has_a_row_for_every_target_and_leaves_nothing") {
        return;
    }
    let prefix = format!("lt{}", std::process::id() % 100_000);
    let out = out_dir("smoke");
    let result = lab(&prefix, &out, &[]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "dataplane lab failed: {stderr}");
    let (header, rows) = csv_rows(&out);
    assert!(header.starts_with(CONTRACT), "columns: {header}");
    let columns: Vec<&str> = header.split(',').collect();
    let status_at = columns.iter().position(|c| *c == "status").expect("a status column");
    let reason_at = columns.iter().position(|c| *c == "reason").expect("a reason column");
    for target in TARGETS {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == target).collect();
        assert!(!mine.is_empty(), "no row for {target}");
        for row in mine {
            assert_eq!(row.len(), columns.len(), "{row:?}");
            let field = |name: &str| &row[columns.iter().position(|c| *c == name).expect(name)];
            match row[status_at].as_str() {
                "ok" => {
                    let offered: f64 = row[6].parse().expect("offered_pps");
                    assert!(offered > 0.0, "{target}: nothing offered: {row:?}");
                    assert_eq!(field("placement"), "dedicated", "the smoke profile is dedicated: {row:?}");
                    let work: f64 = field("dut_ns_per_pkt").parse().expect("dut_ns_per_pkt");
                    assert!(work > 0.0, "{target}: no device work measured: {row:?}");
                    let share: f64 = field("dut_core0_share").parse().expect("dut_core0_share");
                    assert!((0.0..=1.0).contains(&share), "{row:?}");
                    assert!(!field("limit").is_empty() && !field("offered_src").is_empty(), "{row:?}");
                }
                // Skipped only for what this machine lacks (tc flower) or what a target
                // cannot do (testpmd does not classify); never failed.
                "skipped" => assert!(!row[reason_at].is_empty(), "{target}: no reason: {row:?}"),
                other => panic!("{target}: status {other}: {row:?}"),
            }
        }
    }
    // The dataplane itself must have measured, in both comparisons.
    for action in ["drop", "fwd"] {
        let row = rows.iter().find(|r| r[0] == "dataplane" && r[3] == action).expect("a dataplane row");
        assert_eq!(row[status_at], "ok", "dataplane {action}: {row:?}");
    }
    for file in ["report.md", "results.json"] {
        assert!(out.join(file).exists(), "{file} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).expect("results.json parses");
    assert!(json["rows"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_injected_failure_leaves_nothing_behind() {
    if !require_root("an_injected_failure_leaves_nothing_behind") {
        return;
    }
    // One target failing: the lab goes on, records the failure, cleans up.
    let prefix = format!("lf{}", std::process::id() % 100_000);
    let out = out_dir("fail");
    let result =
        lab(&prefix, &out, &["--targets", "tc-u32,dataplane", "--actions", "drop", "--inject-failure", "tc-u32"]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let (_, rows) = csv_rows(&out);
    let row = rows.iter().find(|r| r[0] == "tc-u32").expect("a tc-u32 row");
    assert!(row.iter().any(|f| f == "failed"), "{row:?}");
    assert!(row.iter().any(|f| f.contains("injected failure")), "{row:?}");
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);

    // The whole lab failing in the middle of a target: everything goes anyway.
    let prefix = format!("la{}", std::process::id() % 100_000);
    let out = out_dir("abort");
    let result =
        lab(&prefix, &out, &["--targets", "dataplane", "--actions", "fwd", "--inject-failure", "dataplane:abort"]);
    assert!(!result.status.success(), "an abort must fail the lab");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("injected abort"), "{stderr}");
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}
