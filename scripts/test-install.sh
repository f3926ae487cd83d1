#!/usr/bin/env bash
# Installs runlog into a temporary prefix and uses it the way README.md's
# "Use runlog in your project" says, running README's commands exactly as
# written (HOME points into the temporary directory, so "$HOME/.local" is the
# prefix): the CMake project examples/cmake/ (find_package, both imported
# targets) and examples/train.c through pkg-config (shared, and fully
# static), each run under the INSTALLED `runlog run` without
# LD_LIBRARY_PATH, then the history checked. Also: the SONAME and symlinks,
# only runlog_* exported, no debug info unless --keep-debug, the CMake version
# file, a moved prefix, and install.sh's refusals of bad arguments.
# Needs: cmake, pkg-config, cc, c++, readelf, nm, python3 (missing ones fail
# under CI=true, else skip). Run from anywhere.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
missing=()
for tool in cmake pkg-config cc c++ readelf nm strip python3; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${CI:-}" = true ] && fail "missing ${missing[*]} (.ci/run installs them)"
  echo "test-install: skipped, missing ${missing[*]}" >&2
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/runlog-install.XXXXXX")
trap 'status=$?; if [ $status = 0 ]; then rm -rf "$work"; else echo "left for inspection: $work" >&2; fi' EXIT
# README's commands use "$HOME/.local"; cargo and rustup keep their own homes.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$work/home"
mkdir -p "$HOME"
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH RUNLOG_TRACKING_URI RUNLOG_SPOOL RUNLOG_RUN_ID
prefix="$HOME/.local"

# A fenced block of README.md: the one after the line `<!-- install-test:NAME -->`.
readme_block() {
  awk -v mark="<!-- install-test:$1 -->" '
    $0 == mark { armed = 1; next }
    armed && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }' README.md
}

echo "== install.sh refuses bad arguments (exit 2, a message, nothing installed)"
touch "$work/a-file"
refuse() {
  local want=$1; shift
  local err
  if err=$(scripts/install.sh "$@" 2>&1 >/dev/null); then fail "install.sh $* succeeded"; fi
  case "$err" in *"$want"*) ;; *) fail "install.sh $*: expected '$want' in: $err" ;; esac
}
refuse "character" --prefix "$work/with space"
refuse "character" --prefix "$work/dollar\$HOME"
refuse "character" --prefix "$work/quote\"d"
refuse "character" --prefix "$work/back\\slash"
refuse "character" --prefix "$work/new
line"
refuse "needs a directory" --prefix
refuse "needs a directory" --prefix ""
refuse "not a directory" --prefix "$work/a-file"
refuse "unknown argument" --prefx "$work/x"
refuse "not a cargo profile" --prefix "$work/x" --profile "../x"
[ -z "$(ls -A "$work" | grep -v -e '^home$' -e '^a-file$')" ] || fail "a refused install wrote: $(ls "$work")"

echo "== README: the CMake block is examples/cmake/CMakeLists.txt"
diff <(readme_block cmake) examples/cmake/CMakeLists.txt || fail "README's CMakeLists.txt differs from examples/cmake/CMakeLists.txt"

echo "== README: install (as written, HOME=$HOME)"
readme_block install >"$work/install.sh"
grep -q install.sh "$work/install.sh" || fail "README has no install block"
bash -ex "$work/install.sh"

echo "== README: a project using the install (as written)"
project="$work/project"
mkdir -p "$project/.runlog"   # the history stays here, whatever lies above $work
cp examples/cmake/CMakeLists.txt examples/cmake/train.cpp examples/train.c "$project/"
readme_block project >"$work/project.sh"
grep -q pkg-config "$work/project.sh" || fail "README has no project block"
(cd "$project" && bash -ex "$work/project.sh")

echo "== installed files"
version=$(cargo pkgid -p runlog-ffi | sed 's/.*[#@]//')
major=${version%%.*}
lib="$prefix/lib"
for f in bin/runlog include/runlog.h include/runlog.hpp lib/librunlog.a "lib/librunlog.so.$version" \
  lib/pkgconfig/runlog.pc lib/cmake/runlog/runlogConfig.cmake lib/cmake/runlog/runlogConfigVersion.cmake; do
  [ -f "$prefix/$f" ] || fail "$prefix/$f was not installed"
done
[ "$(readlink "$lib/librunlog.so.$major")" = "librunlog.so.$version" ] || fail "librunlog.so.$major link"
[ "$(readlink "$lib/librunlog.so")" = "librunlog.so.$major" ] || fail "librunlog.so link"
soname=$(readelf -d "$lib/librunlog.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "librunlog.so.$major" ] || fail "SONAME is '$soname', expected librunlog.so.$major"
echo "SONAME $soname"
exported=$(nm -D --defined-only "$lib/librunlog.so.$version" | awk '{print $NF}')
grep -qx runlog_get_logger <<<"$exported" || fail "runlog_get_logger is not exported"
others=$(echo "$exported" | grep -v '^runlog_' || true)
[ -z "$others" ] || fail "librunlog.so exports more than runlog_*: $others"
echo "exports: $(echo "$exported" | wc -l) symbols, all runlog_*"
for f in "$lib/librunlog.a" "$lib/librunlog.so.$version" "$prefix/bin/runlog"; do
  if grep -qE '\.debug_(info|line)' <<<"$(readelf -S --wide "$f")"; then fail "$f carries debug info"; fi
done
pcfg() { PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config "$@"; }
[ "$(pcfg --modversion runlog)" = "$version" ] || fail "runlog.pc version"
[ "$(echo $(pcfg --libs runlog))" = "-L$lib -Wl,-rpath,$lib -lrunlog" ] || fail "runlog.pc Libs: $(pcfg --libs runlog)"
grep -q -- '-lrunlog.* -lpthread' <<<"$(pcfg --static --libs runlog)" || fail "runlog.pc Libs.private: $(pcfg --static --libs runlog)"

echo "== programs: librunlog.so found through the rpath, the static ones need no librunlog.so"
needs_so() { grep -q "NEEDED.*\[librunlog.so.$major\]" <<<"$(readelf -d "$1")"; }
for exe in "$project/build/train" "$project/train"; do
  needs_so "$exe" || fail "$exe does not need librunlog.so.$major"
  grep -qE "R(UN)?PATH.*\[$lib\]" <<<"$(readelf -d "$exe")" || fail "$exe has no rpath to $lib"
  grep -q "librunlog.so.$major => $lib/librunlog.so.$major" <<<"$(ldd "$exe")" || fail "$exe loads another librunlog: $(ldd "$exe")"
done
for exe in "$project/build/train_static" "$project/train_static"; do
  if needs_so "$exe"; then fail "$exe needs librunlog.so"; fi
done
if grep -q INTERP <<<"$(readelf -l "$project/train_static")"; then fail "pkg-config --static did not link a static program"; fi

echo "== history: four runs, each program's metrics and artifacts"
(cd "$project" && "$prefix/bin/runlog" history list -o json) >"$work/list.json"
(cd "$project" && "$prefix/bin/runlog" history last -o json) >"$work/last.json"
for id in $(python3 -c 'import json,sys; print(" ".join(r["run_id"] for r in json.load(open(sys.argv[1]))["runs"]))' "$work/list.json"); do
  (cd "$project" && "$prefix/bin/runlog" history info -r "$id" -o json) >"$work/run-$id.json"
done
python3 - "$work" <<'EOF'
import glob, json, sys
work = sys.argv[1]
runs = json.load(open(f"{work}/list.json"))["runs"]
assert len(runs) == 4, f"expected 4 runs, got {runs}"
by_command = {}
for path in glob.glob(f"{work}/run-*.json"):
    info = json.load(open(path))
    run = info["run"]
    assert run["status"] == "FINISHED" and run["exit_code"] == 0, run
    assert run["dropped"] == 0 and run["lost_records"] == 0, run
    metrics = {m["name"]: m for m in info["metrics"]}
    artifacts = {a["path"] for a in info["artifacts"]}
    by_command[run["command"]] = (run, metrics, artifacts)
commands = sorted(by_command)
assert commands == ["./train", "./train_static", "build/train", "build/train_static"], commands
for cmd in ["build/train", "build/train_static"]:
    run, metrics, artifacts = by_command[cmd]
    assert run["experiment"] == "cmake", run
    assert metrics["Loss"]["count"] == 5, metrics
    assert metrics["Optimizer"]["last"] == {"text": "adam"}, metrics
    assert abs(metrics["Final loss"]["last"]["float"] - 0.0820849986238988) < 1e-12, metrics
    assert "reports/summary.txt" in artifacts, artifacts
for cmd in ["./train", "./train_static"]:
    run, metrics, artifacts = by_command[cmd]
    assert run["experiment"] == "pkg-config", run
    assert metrics["Epochs"]["last"] == {"int": 5}, metrics
    assert metrics["Accuracy"]["last"]["float"] == 0.88, metrics
    assert metrics["Loss"]["count"] == 5, metrics
    assert {"reports/summary.txt", "model/model.txt"} <= artifacts, artifacts
last = json.load(open(f"{work}/last.json"))["run"]
assert last["command"] == "./train_static", last
print("4 runs FINISHED with their metrics and artifacts; last is", last["command"])
EOF

echo "== CMake version file, and a moved prefix"
find_runlog() { # DIR PREFIX VERSION-ARGS: configure a project that only finds runlog
  mkdir -p "$1"
  printf 'cmake_minimum_required(VERSION 3.19)\nproject(v LANGUAGES NONE)\nfind_package(runlog %s CONFIG REQUIRED)\nget_target_property(l runlog::runlog IMPORTED_LOCATION)\nmessage(STATUS "runlog at ${l}")\n' "$3" >"$1/CMakeLists.txt"
  cmake -S "$1" -B "$1/build" -DCMAKE_PREFIX_PATH="$2" >"$1/log" 2>&1
}
minor=$(echo "$version" | cut -d. -f2)
find_runlog "$work/v-same" "$prefix" "$major.$minor" || fail "find_package(runlog $major.$minor): $(cat "$work/v-same/log")"
find_runlog "$work/v-range" "$prefix" "$major.0...<$((major + 1)).0" || fail "a range: $(cat "$work/v-range/log")"
if find_runlog "$work/v-newer" "$prefix" "$major.$((minor + 1))"; then fail "find_package accepted a newer version"; fi
grep -q "$version" "$work/v-newer/log" || fail "no version in: $(cat "$work/v-newer/log")"
if find_runlog "$work/v-major" "$prefix" "$((major + 1))"; then fail "find_package accepted another major version"; fi
cp -a "$prefix" "$work/moved"
find_runlog "$work/v-moved" "$work/moved" "" || fail "moved prefix: $(cat "$work/v-moved/log")"
grep -q "runlog at $work/moved/lib/librunlog.so.$version" "$work/v-moved/log" || fail "moved prefix: $(cat "$work/v-moved/log")"
rm "$work/moved/lib/librunlog.a"
if find_runlog "$work/v-broken" "$work/moved" ""; then fail "a prefix without librunlog.a was accepted"; fi
grep -q "lacks lib/librunlog.a" <<<"$(tr -s ' \n' ' ' <"$work/v-broken/log")" || fail "no clear message: $(cat "$work/v-broken/log")"

echo "== install.sh --keep-debug keeps the build's debug info"
scripts/install.sh --prefix "$work/debug" --keep-debug >/dev/null
grep -q '\.debug_info' <<<"$(readelf -S --wide "$work/debug/lib/librunlog.so.$version")" || fail "--keep-debug stripped librunlog.so"

echo "== sizes (bytes)"
out="${CARGO_TARGET_DIR:-$root/target}/release"
# The smallest program that logs, linked with librunlog.a as cargo builds it
# and as installed.
printf '#include "runlog.h"\nint main(void) {\n  return runlog_log_f64(runlog_get_logger(), "x", 1.0, NULL) != RUNLOG_STATUS_OK;\n}\n' >"$work/minimal.c"
cc -O2 -I"$prefix/include" "$work/minimal.c" "$out/librunlog.a" -lpthread -ldl -lm -o "$work/minimal-built"
cc -O2 "$work/minimal.c" -o "$work/minimal" $(pcfg --cflags runlog) \
  "$lib/librunlog.a" $(pcfg --libs-only-l --static runlog | sed 's/-lrunlog//')
cc -O2 "$work/minimal.c" -o "$work/minimal-gc" $(pcfg --cflags runlog) \
  "$lib/librunlog.a" $(pcfg --libs-only-l --static runlog | sed 's/-lrunlog//') -Wl,--gc-sections
printf '%-45s %12s\n' \
  "librunlog.a as built (release, debug = 1)" "$(stat -c %s "$out/librunlog.a")" \
  "librunlog.a installed" "$(stat -c %s "$lib/librunlog.a")" \
  "librunlog.so as built" "$(stat -c %s "$out/librunlog.so")" \
  "librunlog.so.$version installed" "$(stat -c %s "$lib/librunlog.so.$version")" \
  "runlog as built" "$(stat -c %s "$out/runlog")" \
  "runlog installed" "$(stat -c %s "$prefix/bin/runlog")" \
  "train.c + librunlog.so (pkg-config)" "$(stat -c %s "$project/train")" \
  "train.c fully static (pkg-config --static)" "$(stat -c %s "$project/train_static")" \
  "train.cpp + librunlog.a (CMake)" "$(stat -c %s "$project/build/train_static")" \
  "minimal.c + librunlog.a as built" "$(stat -c %s "$work/minimal-built")" \
  "minimal.c + librunlog.a installed" "$(stat -c %s "$work/minimal")" \
  "minimal.c + librunlog.a installed, --gc-sections" "$(stat -c %s "$work/minimal-gc")"
echo "test-install: all checks passed"
