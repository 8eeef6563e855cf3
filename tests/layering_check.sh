#!/usr/bin/env bash
# loop/ knows nothing of the layers above it (loop/internal.h, "the layering
# rule"): no loop/ file includes a task, promise, scope, sync, TCP or DNS
# header, nor evasync.h (which includes them all).
# usage: layering_check.sh SOURCE_DIR
set -euo pipefail
bad=$(grep -nE '#include *[<"](evasync/)?(task|task_monitor|promise|scope|sync|pool_async|tcp|dns)\.h[>"]|#include *[<"]evasync\.h[>"]' \
      "$1"/loop/*.c "$1"/loop/*.h || true)
if [ -n "$bad" ]; then
  echo "loop/ includes an upper layer's header:"
  echo "$bad"
  exit 1
fi
echo "loop/ includes only loop-level headers"
