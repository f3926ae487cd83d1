#!/usr/bin/env bash
# The ring's and the C library's atomics, checked by tools that see orderings
# rather than outcomes (threaded stress tests on x86-64 pass even with a
# Release weakened to Relaxed):
# - miri runs runlog-core's tests (small counts under cfg(miri)) in its
#   interpreter, which reports data races and undefined behaviour and
#   emulates weak memory;
# - ThreadSanitizer runs the ring stress test, and the 8-thread C program
#   (tests/c/threads.c) built with clang -fsanitize=thread against a
#   TSan-built librunlog.a and nightly's TSan runtime, under the real `runlog run`.
# Needs: the nightly toolchain with the miri and rust-src components, clang,
# python3. Run from the repository root. RUNLOG_RACES=miri or =tsan runs one half.
set -euo pipefail
which="${RUNLOG_RACES:-all}"
host="$(rustc -vV | sed -n 's/^host: //p')"
start=$(date +%s)
took() { echo "   ($(( $(date +%s) - start ))s so far)"; }

if [ "$which" != tsan ]; then
  echo "== miri: runlog-core's tests"
  # Isolation off: proptest looks up its working directory for its
  # regression files. What miri skips, and why: docs/core.md.
  # The unit tests and the tests of the unsafe code and atomics; the others
  # are safe code, run natively, proptested and fuzzed.
  MIRIFLAGS="-Zmiri-disable-isolation" cargo +nightly miri test -q -p runlog-core --features std \
    --lib --test ring_stress --test push_in_place --test ring_attach --test push_placement
  took
fi

if [ "$which" != miri ]; then
  tsan=(-Zbuild-std --target "$host" --target-dir target/tsan --release)
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66"
  echo "== ThreadSanitizer: core/tests/ring_stress.rs"
  RUSTFLAGS="-Zsanitizer=thread" cargo +nightly test "${tsan[@]}" -q -p runlog-core --test ring_stress
  took

  echo "== ThreadSanitizer: tests/c/threads.c (8 threads, one logger) against a TSan-built librunlog.a"
  RUSTFLAGS="-Zsanitizer=thread" cargo +nightly rustc "${tsan[@]}" -q -p runlog-ffi --crate-type staticlib
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # The C side is instrumented by clang; the runtime is the one the Rust
  # side was built for (nightly's compiler-rt: it has the __tsan_* entry
  # points both need; Debian's clang 14 ships none, gcc 12's lacks some).
  rt="$(rustc +nightly --print sysroot)/lib/rustlib/$host/lib/librustc-nightly_rt.tsan.a"
  clang -std=c11 -fsanitize=thread -O1 -g -Iinclude -c tests/c/threads.c -o "$work/threads.o"
  clang "$work/threads.o" "target/tsan/$host/release/librunlog.a" \
    -Wl,--whole-archive "$rt" -Wl,--no-whole-archive -lpthread -ldl -lm -lstdc++ -rdynamic \
    -o "$work/threads"
  cargo build -q --release -p runlog-uploader
  target/release/runlog --tracking-uri "$work/store" run -- "$work/threads"
  python3 - "$work/store/history.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(n,) = db.execute("SELECT COALESCE(SUM(count), 0) FROM chunks").fetchone()  # points, in the chunked store
(status,) = db.execute("SELECT status FROM runs").fetchone()
assert n == 8 * 20000 and status == "FINISHED", (n, status)
print(f"   {n} values stored, run {status}, no race reported")
PY
  took
fi
echo "== races: all passed"
