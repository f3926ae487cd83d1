#!/usr/bin/env bash
# runlog history: unit tests of the history modules, and the real `runlog`
# binary against stores filled by the real `runlog drain` (tests/history_cli.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test -p runlog-uploader --lib -- history:: store::read:: store::assets::
cargo test -p runlog-uploader --test history_cli

# Chart files must render without fontconfig or system fonts.
cargo build -p runlog-uploader --bin runlog
if ldd target/debug/runlog | grep -Eiq 'fontconfig|freetype'; then
    echo "runlog links against system font libraries:" >&2
    ldd target/debug/runlog >&2
    exit 1
fi

cargo clippy -p runlog-uploader --all-targets -- -D warnings
