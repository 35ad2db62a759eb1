//! Fuzz target `walk`: one raw Ethernet frame through `properties::check_walk` (see ../README.md).
#![no_main]

// Shared with dataplane/tests/fuzz_corpus.rs, which replays the corpus through the same checks.
#[path = "../properties.rs"]
#[allow(dead_code)]
mod properties;

libfuzzer_sys::fuzz_target!(|frame: &[u8]| properties::check_walk(frame));
