#!/usr/bin/env bash
# Builds tools/knapsack_bound.cpp (-O2 -march=native, as POLO_NATIVE) into build/tools/ and runs
# it with the given flags: tools/knapsack_bound.sh --seed 1 --csv /tmp/rates1.csv
# (-Wno-uninitialized: GCC 12 warns inside the AVX-512 intrinsics of Eigen's transposes.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${KNAPSACK_BOUND_BUILD:-$root/build/tools}"  # or any folder
mkdir -p "$out"
bin="$out/knapsack_bound"
if [ ! -x "$bin" ] || [ -n "$(find "$root/tools/knapsack_bound.cpp" "$root/include/polo" \
    "$root/examples/trainers" -newer "$bin" -print -quit)" ]; then
  g++ -std=c++20 -O2 -march=native -DNDEBUG -Wall -Wextra -Wno-maybe-uninitialized -Wno-uninitialized \
    -I"$root/include" -I"$root/examples" -isystem /usr/include/eigen3 \
    "$root/tools/knapsack_bound.cpp" -lfmt -o "$bin"
fi
exec "$bin" "$@"
