#!/bin/bash
# The four etcd detection rows of issue 10 (item 6), one after another: default faults, then
# serializable reads under partitions (expected invalid: stale reads), register before append.
# Each row's table and every run's line go to $OUT. On the shared machine run it under the bench
# lock: flock /work/locks/bench.lock bench/detect-etcd.sh
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-store/detect-etcd}
mkdir -p "$OUT"
row() {  # name, workload, extra args...
  local name=$1 w=$2; shift 2
  $PY bench/detect.py --system etcd --workload $w --seeds 5 --time-limit 60 --store "$OUT/store" --out "$OUT/$name-$w.md" "$@" | tee "$OUT/$name-$w.log"
}
row default register
row serializable register --system-opt reads=serializable --nemesis partition
row default append
row serializable append --system-opt reads=serializable --nemesis partition
