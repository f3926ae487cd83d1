#!/usr/bin/env bash
# The main job, end to end on the embedded default store: build runlog, build
# the C training example against include/runlog.h and librunlog.a, run it
# through `runlog run` (which drains what it logs into .runlog/ and uploads its
# outputs/), then show the run with `runlog history last`.
#
# Usage: scripts/demo.sh [WORKDIR]   (default: target/demo; the history lives in WORKDIR/.runlog)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/target/demo}
cd "$root"

cargo build --release -q -p runlog-uploader -p runlog-ffi
mkdir -p "$work"
cc -std=c11 -O2 -Wall -Wextra -Iinclude examples/train.c target/release/librunlog.a \
   -lpthread -ldl -lm -o "$work/train"

cd "$work"
runlog="$root/target/release/runlog"
"$runlog" run --experiment demo -- ./train
echo
"$runlog" history last
