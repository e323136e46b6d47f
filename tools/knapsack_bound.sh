#!/usr/bin/env bash
# Builds tools/knapsack_bound.cpp (CMake target knapsack_bound, Release, POLO_NATIVE) into
# build/tools/ and runs it with the given flags: tools/knapsack_bound.sh --seed 1 --csv /tmp/rates1.csv
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${KNAPSACK_BOUND_BUILD:-$root/build/tools}"  # or any build folder
cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=Release -DPOLO_NATIVE=ON -DPOLO_BUILD_TESTS=OFF \
  -DPOLO_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$out" --target knapsack_bound -j2 >/dev/null
exec "$out/examples/knapsack_bound" "$@"
