#!/usr/bin/env bash
# Install evasync into a temporary prefix and build tests/consumer (an
# attach-mode daemon that calls ev_* itself) against it, the two ways a
# downstream project would: pkg-config and find_package.  Each consumer is
# linked shared and static (libevasync.a, the system's shared libraries
# otherwise: libdw's archives would pull in four compression libraries a
# fully static link needs and libdw-dev does not bring) and must print
# "consumer ok".  Then the private-prefix install the README documents
# (-DEVA_INSTALL_RPATH=ON): a pkg-config program runs without LD_LIBRARY_PATH.
# usage: run.sh SOURCE_DIR C_COMPILER
set -euo pipefail
src=$1 cc=$2
here=$(cd "$(dirname "$0")" && pwd)

# ctest may run us from a sanitizer build; the installed library must be the
# plain one, and nothing from the caller's environment may steer the builds.
unset CFLAGS CPPFLAGS LDFLAGS CMAKE_PREFIX_PATH
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake -S "$src" -B "$tmp/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
      -DEVA_SANITIZE= -DEVA_BUILD_TESTS=OFF -DEVA_BUILD_EXAMPLES=OFF -DEVA_BUILD_BENCH=OFF
cmake --build "$tmp/build" -j"$(nproc)"
# --prefix differs from the configured prefix on purpose: the installed
# files must not depend on it.
cmake --install "$tmp/build" --prefix "$prefix"

# use_prefix PREFIX: point pkg-config at PREFIX's evasync.pc (GNUInstallDirs
# picks lib/ or lib/<multiarch>/: find where it went).
use_prefix() {
  local pc
  pc=$(find "$1" -name evasync.pc)
  [ -n "$pc" ] || { echo "run.sh: evasync.pc was not installed in $1" >&2; exit 1; }
  export PKG_CONFIG_PATH=${pc%/*}
  libdir=$(pkg-config --variable=libdir evasync)
}
use_prefix "$prefix"

# The shared libraries a binary needs (its NEEDED entries): a "static" link
# that quietly picked up libevasync.so must fail, and a shared one must
# really load it.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
expect() { # BINARY yes|no: whether it must need libevasync.so
  local got=no
  [[ $(needed "$1") == *libevasync.so* ]] && got=yes
  [ "$got" = "$2" ] || { echo "run.sh: $1: needs libevasync.so: $got, expected $2" >&2; exit 1; }
}

# A system install (the Debian packages) must carry no RUNPATH.
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
no_runpath() {
  [ -z "$(runpath "$1")" ] || { echo "run.sh: $1 has RUNPATH $(runpath "$1")" >&2; exit 1; }
}
no_runpath "$libdir/libevasync.so"

read -ra cflags <<<"$(pkg-config --cflags evasync)"
read -ra libs <<<"$(pkg-config --libs evasync)"
read -ra static_libs <<<"$(pkg-config --static --libs evasync)"

# pc_shared OUTPUT: the README's shared link line, exactly.
pc_shared() {
  "$cc" -std=c11 -Wall -Wextra -Werror "${cflags[@]}" "$here/consumer.c" -o "$1" "${libs[@]}"
  expect "$1" yes
}

echo "--- pkg-config, shared (LD_LIBRARY_PATH)"
pc_shared "$tmp/pc_shared"
no_runpath "$tmp/pc_shared"
LD_LIBRARY_PATH=$libdir "$tmp/pc_shared"

echo "--- pkg-config, static"
# -l:libevasync.a (GNU ld) selects the archive where the .pc says -levasync;
# the private libs (libev, pthread) stay shared.
"$cc" -std=c11 -Wall -Wextra -Werror "${cflags[@]}" "$here/consumer.c" -o "$tmp/pc_static" \
      "${static_libs[@]/#-levasync/-l:libevasync.a}"
expect "$tmp/pc_static" no
"$tmp/pc_static"

echo "--- CMake package"
cmake -S "$here" -B "$tmp/consumer" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$tmp/consumer" -j"$(nproc)"
expect "$tmp/consumer/consumer_shared" yes
expect "$tmp/consumer/consumer_static" no
# CMake gives the build-tree executables an RPATH to the imported library.
"$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"

echo "--- private prefix, -DEVA_INSTALL_RPATH=ON: no LD_LIBRARY_PATH"
cmake -S "$src" -B "$tmp/build" -DEVA_INSTALL_RPATH=ON
cmake --build "$tmp/build" -j"$(nproc)"
cmake --install "$tmp/build" --prefix "$tmp/private"
use_prefix "$tmp/private"
read -ra cflags <<<"$(pkg-config --cflags evasync)"
read -ra libs <<<"$(pkg-config --libs evasync)"
pc_shared "$tmp/pc_rpath"
[ "$(runpath "$tmp/pc_rpath")" = "$libdir" ] ||
  { echo "run.sh: pc_rpath has RUNPATH '$(runpath "$tmp/pc_rpath")', expected $libdir" >&2; exit 1; }
env -u LD_LIBRARY_PATH "$tmp/pc_rpath"
