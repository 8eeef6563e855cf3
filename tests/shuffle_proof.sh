#!/usr/bin/env bash
# tests/shuffle_proof.sh BINARY SEEDS_SCRIPT: BINARY is test_complete_once
# built against the library with the issue-11 double wake put back
# (EVA_TEST_WRITE_CANCEL_DOUBLE_WAKE).  The shuffle mode works if the plain
# single-write cancel passes unshuffled (FIFO order hides the bug) and ASan
# reports the use-after-free under at least one of the seeds CI runs.
set -uo pipefail
bin=$1 seeds_script=$2
test_name=cancel_one_half_sent_write
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 # the frame leaks once the UAF aborts the test

if ! out=$(env -u EVA_SHUFFLE_SEED "$bin" "$test_name" 2>&1); then
  echo "$out"
  echo "FAIL: unshuffled, $test_name already fails: the proof needs a run where the bug hides"
  exit 1
fi
echo "unshuffled: $test_name passes (the double wake hides in FIFO order)"
found=()
for seed in $("$seeds_script"); do
  out=$(EVA_SHUFFLE_SEED=$seed "$bin" "$test_name" 2>&1)
  if grep -q "heap-use-after-free" <<<"$out"; then
    echo "EVA_SHUFFLE_SEED=$seed: heap-use-after-free found"
    found+=("$seed")
  else
    echo "EVA_SHUFFLE_SEED=$seed: not found"
  fi
done
if [ ${#found[@]} -eq 0 ]; then
  echo "FAIL: no CI seed found the reintroduced use-after-free"
  exit 1
fi
echo "PASS: the shuffled runs found it (seeds: ${found[*]})"
