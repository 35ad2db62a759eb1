//! Replays the fuzzers' regression corpus (fuzz/corpus/<target>/ and fuzz/regressions/<target>/)
//! through the same property checks the fuzz targets run, so `cargo test` catches a
//! regression without libFuzzer and without nightly. See fuzz/README.md.
//!
//! The checks live in the testkit-fuzz crate, which the fuzz targets call too: the fuzzers and
//! this test can never check different things.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Inputs that still violate a property because of a known, not yet fixed library bug, as
/// (path under fuzz/, reason). `replay_corpus` skips them and `replay_known_bugs` (ignored)
/// replays exactly them; when the bug is fixed, delete the entry and the input keeps guarding
/// the fix. Empty now: the one bug the fuzzers found (compute's LCO sum leaving out bytes after
/// the inner IP packet, fuzz/regressions/csum_fix/lco-trailer-*) is fixed.
const KNOWN_BUGS: &[(&str, &str)] = &[];

/// The check each target directory's inputs go through.
fn check_for(target: &str) -> fn(&[u8]) {
    match target {
        "walk" => testkit_fuzz::check_walk,
        "inspect" => testkit_fuzz::check_inspect,
        "csum_fix" => testkit_fuzz::check_csum_fix,
        "rules_text" => testkit_fuzz::check_rules_text,
        "classbench" => testkit_fuzz::check_classbench,
        "rewrite" => testkit_fuzz::check_rewrite,
        "args" => testkit_fuzz::check_args,
        "capture" => testkit_fuzz::check_capture,
        other => panic!(
            "fuzz/*/{other}: no such fuzz target (walk, inspect, csum_fix, rules_text, classbench, rewrite, args, capture)"
        ),
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every input file: (path relative to fuzz/, target name, path).
fn inputs() -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for kind in ["corpus", "regressions"] {
        let root = fuzz_dir().join(kind);
        let Ok(targets) = std::fs::read_dir(&root) else { continue };
        for target in targets {
            let target = target.expect("reading fuzz dir").path();
            if !target.is_dir() {
                continue;
            }
            let name = target.file_name().and_then(|n| n.to_str()).expect("UTF-8 target name").to_string();
            for file in std::fs::read_dir(&target).expect("reading a target dir") {
                let path = file.expect("reading a target dir").path();
                // README.md and the like explain a directory; every other file is an input.
                if path.is_file() && path.extension().is_none_or(|e| e != "md") {
                    let rel = path.strip_prefix(fuzz_dir()).expect("under fuzz/").display().to_string();
                    out.push((rel, name.clone(), path));
                }
            }
        }
    }
    out.sort();
    out
}

/// Runs `inputs` through their checks; the files whose check panicked, with the message.
fn replay<'a>(inputs: impl Iterator<Item = &'a (String, String, PathBuf)>) -> (usize, Vec<String>) {
    let mut count = 0;
    let mut failures = Vec::new();
    for (rel, target, path) in inputs {
        let check = check_for(target);
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        count += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("fuzz/{rel} ({} bytes): {message}", data.len()));
        }
    }
    (count, failures)
}

#[test]
fn replay_corpus() {
    let all = inputs();
    for target in ["walk", "inspect", "csum_fix", "rules_text", "classbench", "rewrite", "args", "capture"] {
        assert!(all.iter().any(|(_, t, _)| t == target), "fuzz/corpus/{target}/ is missing or empty");
    }
    for (name, _) in KNOWN_BUGS {
        assert!(all.iter().any(|(rel, _, _)| rel == name), "KNOWN_BUGS names fuzz/{name}, which does not exist");
    }
    let (count, failures) = replay(all.iter().filter(|(rel, _, _)| KNOWN_BUGS.iter().all(|(name, _)| name != rel)));
    assert!(failures.is_empty(), "{} of {count} fuzz inputs fail:\n{}", failures.len(), failures.join("\n"));
}

#[test]
#[ignore = "replays the inputs of known, unfixed bugs (KNOWN_BUGS, with the reason for each)"]
fn replay_known_bugs() {
    let all = inputs();
    let (count, failures) = replay(all.iter().filter(|(rel, _, _)| KNOWN_BUGS.iter().any(|(name, _)| name == rel)));
    assert!(failures.is_empty(), "{} of {count} known-bug inputs fail:\n{}", failures.len(), failures.join("\n"));
}
