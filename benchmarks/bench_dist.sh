#!/bin/sh
# Data-parallel throughput: one process with one thread against `mpirun -np 2` with one thread
# per rank, alternately (the machine is shared: the ratio of neighbouring runs is what counts),
# on the CNN and the transformer at a global batch of 64. Prints bench_dist's JSON lines with
# the load average before each run.
#
#   benchmarks/bench_dist.sh build/release/benchmarks/bench_dist [ROUNDS_OF_PAIRS]
set -eu
bin=${1:?usage: bench_dist.sh PATH/TO/bench_dist [PAIRS]}
pairs=${2:-3}
export OMP_NUM_THREADS=1
for model in cnn transformer; do
  i=0
  while [ "$i" -lt "$pairs" ]; do
    echo "# $(uptime)"
    "$bin" --model "$model" --rounds 1
    echo "# $(uptime)"
    mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1 "$bin" --model "$model" --rounds 1
    i=$((i + 1))
  done
done
