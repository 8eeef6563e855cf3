#!/usr/bin/env bash
# debian/libevasync0.symbols against the shared library's exports:
#   deb_symbols.sh check  LIBRARY SYMBOLS          exit 1 unless they list the same names
#   deb_symbols.sh update LIBRARY SYMBOLS VERSION  add the missing names at VERSION
# Every exported symbol must be in the symbols file, or dpkg-gensymbols only
# warns and a package that needs the new symbol would depend on too old a
# libevasync0; a name in the file that the library no longer exports is an
# ABI break (the package build fails on it).  update keeps the versions of the
# names already there and drops none: removing one is a deliberate edit.
set -euo pipefail
die() { echo "deb_symbols.sh: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: deb_symbols.sh check|update LIBRARY SYMBOLS [VERSION]"
mode=$1 library=$2 symbols=$3

exported() { nm -D --defined-only "$library" | awk '{print $NF}' | grep '^eva' | sort -u; }
listed() { sed -n 's/^ \([A-Za-z_0-9]*\)@Base .*/\1/p' "$symbols" | sort -u; }

case $mode in
check)
  missing=$(comm -23 <(exported) <(listed))
  gone=$(comm -13 <(exported) <(listed))
  [ -z "$missing" ] || echo "not in $symbols (run scripts/abi-baseline):"$'\n'"$missing"
  [ -z "$gone" ] || echo "in $symbols but no longer exported (an ABI break):"$'\n'"$gone"
  [ -z "$missing$gone" ] ;;
update)
  [ $# -eq 4 ] || die "update needs the VERSION the new symbols appear in"
  version=$4
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  { sed -n '1,/^[^ ]/p' "$symbols" | grep -v '^ '   # the header lines
    { grep '^ ' "$symbols"; comm -23 <(exported) <(listed) | sed "s/.*/ &@Base $version/"; } | sort
  } >"$tmp"
  cat "$tmp" >"$symbols" ;;
*) die "unknown mode $mode" ;;
esac
