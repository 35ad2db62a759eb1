//! The captures of tcpdump's own test suite (../shared/corpora/tcpdump/ from the repo root,
//! written outside this project, many malformed on purpose; read from there, never copied
//! in) through `dataplane inspect`: no file refused, every record reported, no crash; and
//! the checksum verdicts compared with tshark's by scripts/compare-tshark.py.
//!
//! Skipped, with a message, when the corpus is not there.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{text, DATAPLANE};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora/tcpdump");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: no tcpdump corpus at {} (see docs: ../shared/corpora)", dir.display());
        None
    }
}

fn captures(dir: &PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("reading the corpus")
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    files
}

#[test]
fn inspect_reads_every_capture_of_the_tcpdump_corpus_whole() {
    let Some(dir) = corpus() else { return };
    let files = captures(&dir);
    assert!(files.len() >= 400, "{} captures in {}: the corpus looks incomplete", files.len(), dir.display());
    let (mut failures, mut frames) = (Vec::new(), 0);
    for file in &files {
        let out = Command::new(DATAPLANE).arg("inspect").arg(file).arg("--json").output().expect("running dataplane");
        let name = file.file_name().unwrap_or_default().to_string_lossy().to_string();
        if !out.status.success() {
            // A crash is a signal (no exit code); a refusal or an unreadable record exits 1.
            failures.push(format!("{name}: {}: {}", out.status, text(&out.stderr)));
            continue;
        }
        let stdout = text(&out.stdout);
        for (expected, line) in stdout.lines().enumerate() {
            let value: serde_json::Value = match serde_json::from_str(line) {
                Ok(value) => value,
                Err(e) => {
                    failures.push(format!("{name}: line {expected}: not JSON ({e}): {line}"));
                    break;
                }
            };
            if value["index"].as_u64() != Some(expected as u64) {
                failures.push(format!("{name}: line {expected} has index {}: a record was skipped", value["index"]));
                break;
            }
            frames += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} captures not read whole:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!("inspect read all {} captures, {frames} frames", files.len());
}

#[test]
fn inspect_and_tshark_agree_on_the_tcpdump_corpus() {
    let Some(dir) = corpus() else { return };
    if Command::new("tshark").arg("--version").output().map_or(true, |o| !o.status.success()) {
        // CI installs tshark (scripts/ci-deps.sh): a skip there would hide a failure.
        assert!(std::env::var_os("CI").is_none(), "CI must have tshark (scripts/ci-deps.sh)");
        eprintln!("skipping: tshark not runnable; install it (scripts/ci-deps.sh) to compare verdicts");
        return;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/compare-tshark.py");
    // /usr/bin/python3: the script needs only the standard library, but a pyenv python3
    // first on PATH may be missing entirely on CI images.
    let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
    let out = Command::new(python)
        .arg(&script)
        .arg(DATAPLANE)
        .arg(&dir)
        .arg("--quiet")
        .output()
        .expect("running scripts/compare-tshark.py");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{} {}: {}\n{stdout}\n{}", python, script.display(), out.status, text(&out.stderr));
    eprintln!("{}", stdout.lines().last().unwrap_or_default());
}
