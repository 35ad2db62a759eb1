//! Fuzz target `csum_fix`: one raw Ethernet frame through `testkit_fuzz::check_csum_fix` (see ../README.md).
#![no_main]

// The checks live in testkit-fuzz; dataplane/tests/fuzz_corpus.rs replays the corpus through them.
libfuzzer_sys::fuzz_target!(|frame: &[u8]| testkit_fuzz::check_csum_fix(frame));
