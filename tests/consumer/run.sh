#!/usr/bin/env bash
# Install evasync into a temporary prefix and build tests/consumer against it,
# the two ways a downstream project would: pkg-config and find_package.
# Each consumer is linked shared and static and must print "consumer ok".
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

# GNUInstallDirs picks lib/ or lib/<multiarch>/: find where the .pc went.
pc=$(find "$prefix" -name evasync.pc)
[ -n "$pc" ] || { echo "run.sh: evasync.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH=${pc%/*}
libdir=$(pkg-config --variable=libdir evasync)

# The shared libraries a binary needs (its NEEDED entries): a "static" link
# that quietly picked up libevasync.so must fail, and a shared one must
# really load it.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
expect() { # BINARY yes|no: whether it must need libevasync.so
  local got=no
  [[ $(needed "$1") == *libevasync.so* ]] && got=yes
  [ "$got" = "$2" ] || { echo "run.sh: $1: needs libevasync.so: $got, expected $2" >&2; exit 1; }
}

read -ra cflags <<<"$(pkg-config --cflags evasync)"
read -ra libs <<<"$(pkg-config --libs evasync)"
read -ra static_libs <<<"$(pkg-config --static --libs evasync)"

echo "--- pkg-config, shared"
"$cc" -std=c11 -Wall -Wextra -Werror "${cflags[@]}" "$here/consumer.c" -o "$tmp/pc_shared" "${libs[@]}"
expect "$tmp/pc_shared" yes
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
