#!/usr/bin/env bash
# runlog history: unit tests of the history modules, and the real `runlog`
# binary against stores filled by the real `runlog drain` (tests/history_cli.rs,
# tests/history_compare.rs; tests/outputs_promote.rs runs `runlog run`). Needs python3
# (the export peak-RSS measurement).
# Release profile, like scripts/test-all.sh, so the builds are shared.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  # scripts/test-all.sh runs these with the whole workspace.
  cargo test --release -p runlog-uploader --lib -- history:: store::read:: store::assets:: store::locate:: commands::outputs::
  cargo test --release -p runlog-uploader --test history_cli --test history_compare --test outputs_promote --test store_discovery
fi

# Chart files must render without fontconfig or system fonts (the font is
# compiled in): the binary must not link against them.
cargo build --release -p runlog-uploader --bin runlog
if ldd target/release/runlog | grep -Eiq 'fontconfig|freetype'; then
    echo "runlog links against system font libraries:" >&2
    ldd target/release/runlog >&2
    exit 1
fi
echo "history: ok"
