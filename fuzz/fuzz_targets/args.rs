//! Fuzz target `args`: command-line value text through `testkit_fuzz::check_args` (see ../README.md).
#![no_main]

// The checks live in testkit-fuzz; dataplane/tests/fuzz_corpus.rs replays the corpus through them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| testkit_fuzz::check_args(data));
