#!/usr/bin/env bash
# Builds runlog and installs it under a prefix, for C and C++ projects:
#
#   PREFIX/bin/runlog
#   PREFIX/include/runlog.h, runlog.hpp
#   PREFIX/lib/librunlog.a
#   PREFIX/lib/librunlog.so.X.Y.Z  (SONAME librunlog.so.X, links librunlog.so.X and librunlog.so)
#   PREFIX/lib/pkgconfig/runlog.pc
#   PREFIX/lib/cmake/runlog/runlogConfig.cmake, runlogConfigVersion.cmake
#
# Usage: scripts/install.sh [--prefix DIR] [--profile NAME] [--keep-debug]
#   --prefix DIR    where to install (default /usr/local); made absolute
#   --profile NAME  cargo profile to build (default release)
#   --keep-debug    install the files as built, debug info included; by default
#                   it is stripped (the release profile keeps line tables for
#                   profiling, and Rust's standard library brings its own)
#
# Files are replaced by new ones (install(1) unlinks first), so a program
# running against the old librunlog.so keeps working. Needs cargo, rustc,
# readelf and strip (binutils).
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "install.sh: $*" >&2; exit 2; }

prefix=/usr/local
profile=release
keep_debug=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] && [ -n "$2" ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; [ -n "$prefix" ] || die "--prefix needs a directory"; shift ;;
    --profile) [ $# -ge 2 ] && [ -n "$2" ] || die "--profile needs a cargo profile name"; profile=$2; shift 2 ;;
    --keep-debug) keep_debug=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

# The prefix is written into runlog.pc and the rpath: refuse what pkg-config
# or a linker command line would split or expand (spaces, quotes, $, \ ...).
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac
if ! [[ "$prefix" =~ ^[A-Za-z0-9_./+@%=,:~-]+$ ]]; then
  die "the prefix '$prefix' has a character that runlog.pc and a link line cannot carry; use letters, digits and _ . / + @ % = , : ~ -"
fi
if [ -e "$prefix" ] && [ ! -d "$prefix" ]; then
  die "the prefix '$prefix' exists and is not a directory"
fi
[[ "$profile" =~ ^[A-Za-z0-9_-]+$ ]] || die "'$profile' is not a cargo profile name"
for tool in cargo rustc readelf strip install; do
  command -v "$tool" >/dev/null || die "needs '$tool' on PATH"
done

root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$root"

echo "== building runlog (cargo profile $profile)"
cargo build --locked --profile "$profile" -p runlog-ffi -p runlog-uploader
case "$profile" in dev|test) out_dir=debug ;; *) out_dir=$profile ;; esac
out="${CARGO_TARGET_DIR:-$root/target}/$out_dir"
[ "${out#/}" != "$out" ] || out="$root/$out"

# The version is the crate's; the SONAME is whatever ffi/build.rs gave the library.
version=$(cargo pkgid -p runlog-ffi | sed 's/.*[#@]//')
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot read runlog-ffi's version (got '$version')"
soname=$(readelf -d "$out/librunlog.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ -n "$soname" ] || die "$out/librunlog.so has no SONAME (ffi/build.rs sets one on ELF targets)"
real_name="librunlog.so.$version"
major=${version%%.*}
[ "$soname" = "librunlog.so.$major" ] || die "SONAME $soname does not match version $version"

# System libraries the static library needs, as rustc states them for this
# toolchain; -lgcc_s and -lc are left to the compiler driver, which links
# them (or their static forms with -static) by itself.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
native=$(echo 'pub fn f() {}' | rustc --crate-type staticlib --crate-name probe --print native-static-libs \
  -o "$probe/libprobe.a" - 2>&1 | sed -n 's/.*native-static-libs: //p')
libs_private=""
cmake_libs=""
for lib in $native; do
  case "$lib" in -lgcc_s|-lc) continue ;; -l*) ;; *) continue ;; esac
  libs_private="$libs_private $lib"
  cmake_libs="$cmake_libs;${lib#-l}"
done
libs_private=${libs_private# }
cmake_libs=${cmake_libs#;}
[ -n "$libs_private" ] || die "rustc did not list the native libraries of a static library"
pointer_bits=$(rustc --print cfg | sed -n 's/^target_pointer_width="\(.*\)"/\1/p')
pointer_bytes=$((pointer_bits / 8))

echo "== installing runlog $version into $prefix"
install -d "$prefix/bin" "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/cmake/runlog"
install -m 0755 "$out/runlog" "$prefix/bin/runlog"
install -m 0644 include/runlog.h include/runlog.hpp "$prefix/include/"
install -m 0644 "$out/librunlog.a" "$prefix/lib/librunlog.a"
install -m 0755 "$out/librunlog.so" "$prefix/lib/$real_name"
if [ "$keep_debug" = 0 ]; then
  strip --strip-all "$prefix/bin/runlog"
  strip --strip-debug "$prefix/lib/librunlog.a"
  strip --strip-unneeded "$prefix/lib/$real_name"
fi
ln -sfn "$real_name" "$prefix/lib/$soname"
ln -sfn "$soname" "$prefix/lib/librunlog.so"

fill() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" \
    -e "s|@SONAME@|$soname|g" -e "s|@REAL_NAME@|$real_name|g" \
    -e "s|@LIBS_PRIVATE@|$libs_private|g" -e "s|@CMAKE_LIBS@|$cmake_libs|g" \
    -e "s|@SIZEOF_VOID_P@|$pointer_bytes|g" "$1" >"$2.tmp"
  chmod 0644 "$2.tmp"
  mv -f "$2.tmp" "$2"
}
fill packaging/runlog.pc.in "$prefix/lib/pkgconfig/runlog.pc"
fill packaging/runlogConfig.cmake.in "$prefix/lib/cmake/runlog/runlogConfig.cmake"
fill packaging/runlogConfigVersion.cmake.in "$prefix/lib/cmake/runlog/runlogConfigVersion.cmake"

echo "installed: $prefix/bin/runlog, $prefix/include/runlog.h(pp), $prefix/lib/librunlog.{a,so} ($soname),"
echo "           $prefix/lib/pkgconfig/runlog.pc, $prefix/lib/cmake/runlog/"
case ":${PKG_CONFIG_PATH:-}:" in *":$prefix/lib/pkgconfig:"*) ;; *)
  echo "pkg-config: export PKG_CONFIG_PATH=\"$prefix/lib/pkgconfig\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}\"" ;;
esac
echo "CMake: -DCMAKE_PREFIX_PATH=$prefix"
