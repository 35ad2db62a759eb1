#!/usr/bin/env bash
# Everything the tests need, on a fresh machine: system packages, build, format and lint
# checks, then every test. The network tests (veth, AF_XDP, XDP) need root; as another user
# they skip with a message, except under CI=true, where they must run.
#
#   bash scripts/test.sh        (as root; the network tests skip otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ci-deps.sh
cargo build --workspace --all-targets --locked
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --manifest-path fuzz/Cargo.toml --locked
cargo test --workspace --locked
