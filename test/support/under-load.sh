#!/bin/sh
# Runs test files several times each on a deliberately loaded machine, to find tests that hold on a
# quiet machine but not on a busy CI one (a timer bound, a tcpdump that drops, a sender that falls
# behind). Busy loops load the CPUs; the shared benchmark lock is held meanwhile so that nobody's
# benchmark measures the load. Each run's output is kept; one line per run says how it went.
#
#   sh test/support/under-load.sh [-n RUNS] [-l LOOPS] [-o DIR] dist/test/x.test.js ...
#
# Defaults: 3 runs of each file, 3 busy loops, output in a fresh /tmp directory. Needs `npm run
# build` first; every file runs inside src/lab/enter.sh, as npm test runs it.
set -eu
runs=3
loops=3
out=""
while getopts n:l:o: opt; do
  case $opt in
  n) runs=$OPTARG ;;
  l) loops=$OPTARG ;;
  o) out=$OPTARG ;;
  *) exit 64 ;;
  esac
done
shift $((OPTIND - 1))
[ "$#" -gt 0 ] || {
  echo "usage: $0 [-n RUNS] [-l LOOPS] [-o DIR] TEST_FILE..." >&2
  exit 64
}
cd "$(dirname "$0")/../.."
[ -n "$out" ] || out=$(mktemp -d /tmp/netprobify-under-load.XXXXXX)
mkdir -p "$out"

exec 9>/tmp/npf-bench.lock
flock 9
pids=""
stop_loops() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap stop_loops EXIT
trap 'exit 130' INT TERM
i=0
while [ "$i" -lt "$loops" ]; do
  sh -c 'while :; do :; done' &
  pids="$pids $!"
  i=$((i + 1))
done

failed=0
r=1
while [ "$r" -le "$runs" ]; do
  for f in "$@"; do
    log="$out/$(echo "$f" | tr / _).$r.log"
    start=$(date +%s)
    rc=0
    timeout 600 sh src/lab/enter.sh node --test --test-concurrency=1 "$f" >"$log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
    echo "$(date +%T) run $r rc=$rc $(($(date +%s) - start))s load $(cut -d' ' -f1 /proc/loadavg) $f"
  done
  r=$((r + 1))
done
echo "$failed failed run(s); logs in $out"
[ "$failed" -eq 0 ]
