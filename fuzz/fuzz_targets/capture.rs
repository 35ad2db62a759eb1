//! Fuzz target `capture`: a whole pcap or pcapng file through `properties::check_capture` (see ../README.md).
#![no_main]

// Shared with dataplane/tests/fuzz_corpus.rs, which replays the corpus through the same checks.
#[path = "../properties.rs"]
#[allow(dead_code)]
mod properties;

libfuzzer_sys::fuzz_target!(|data: &[u8]| properties::check_capture(data));
