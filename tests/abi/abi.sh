#!/usr/bin/env bash
# The ABI baseline (docs/abi.md), with abigail-tools:
#   abi.sh dump  LIBRARY INCLUDE_DIR OUT       write LIBRARY's ABI as abixml to OUT
#   abi.sh check LIBRARY INCLUDE_DIR BASELINE  compare LIBRARY with BASELINE
# check exits 0 when nothing changed or the only changes are additions
# (reported: they are compatible, and the next scripts/abi-baseline takes them
# in), 1 for anything else abidiff finds (a removed or changed function or
# variable, a public type whose layout changed, a new SONAME), and 77 (ctest:
# skipped, and says so) when LIBRARY has no DWARF to read types from.
# Both ends read only what the public headers in INCLUDE_DIR declare: types
# private to the library (the definition behind the opaque eva_loop, internal
# structs) are not ABI.
set -euo pipefail

# The baseline must not depend on where or how it was built: no directories
# (file names only), no DT_NEEDED list (a sanitizer build needs libasan),
# type ids from a hash of the type instead of a counter; and no source
# locations in the file itself (the library being checked keeps them, so a
# report says where a type is).
dump_options=(--no-corpus-path --no-comp-dir-path --short-locs --no-elf-needed
              --type-id-style hash --exported-interfaces-only --drop-private-types)

die() { echo "abi.sh: $*" >&2; exit 1; }
[ $# -eq 4 ] || die "usage: abi.sh dump|check LIBRARY INCLUDE_DIR FILE"
mode=$1 library=$2 include=$(cd "$3" && pwd) file=$4
command -v abidiff >/dev/null || die "abidw/abidiff not found (Debian: abigail-tools; scripts/install-deps installs it)"

# (no `readelf | grep -q` here: under pipefail, grep quitting early makes
# readelf die of SIGPIPE and the test would be skipped at random)
has_dwarf() { [[ $(readelf -S "$1") == *.debug_info* ]]; }
if ! has_dwarf "$library"; then
  [ "$mode" = check ] || die "$library has no debug info: build it with -g (scripts/abi-baseline does)"
  echo "abi.sh: $library has no debug info (a Release build): ABI check skipped; the Debug and RelWithDebInfo builds run it"
  exit 77
fi

case $mode in
dump)
  abidw "${dump_options[@]}" --no-show-locs --headers-dir "$include" --out-file "$file" "$library"
  ;;
check)
  [ -f "$file" ] || die "no baseline $file: run scripts/abi-baseline"
  # Both sides go through the same abidw reading: abidiff given the library
  # itself with --drop-private-types misses a changed struct layout.
  current=$(mktemp)
  trap 'rm -f "$current"' EXIT
  abidw "${dump_options[@]}" --headers-dir "$include" --out-file "$current" "$library"
  rc=0
  report=$(abidiff "$file" "$current") || rc=$?
  [ -z "$report" ] || echo "$report"
  # abidiff's status bits: 1 error, 2 usage, 4 ABI change, 8 incompatible.
  [ $((rc & 3)) -eq 0 ] || die "abidiff failed (status $rc)"
  [ "$rc" -eq 0 ] && { echo "abi.sh: ABI identical to $file"; exit 0; }
  # Bit 4 alone can be a compatible addition or a changed struct layout (which
  # abidiff cannot call incompatible by itself): only the summary lines say
  # which.  Additions pass; any removal or change, or any other finding, fails.
  summaries=$(grep -E '^(Functions|Variables|Function symbols|Variable symbols) changes summary:' <<<"$report" || true)
  others=$(grep -vE '^(Functions|Variables|Function symbols|Variable symbols) changes summary:|^$|^[0-9]+ Added (function|variable)|^  \[A\] ' <<<"$report" || true)
  if [ $((rc & 8)) -eq 0 ] && [ -z "$others" ] && ! grep -qE '[1-9][0-9]* (Removed|Changed)' <<<"$summaries"; then
    echo "abi.sh: additions only (compatible): the next scripts/abi-baseline records them"
    exit 0
  fi
  echo "abi.sh: the ABI changed incompatibly (above). If that is deliberate: run scripts/abi-baseline," >&2
  echo "  commit tests/abi/libevasync.abi and say so in docs/CHANGES.md (docs/abi.md: SONAME policy)." >&2
  exit 1
  ;;
*) die "unknown mode $mode (dump or check)" ;;
esac
