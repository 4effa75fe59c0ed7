#!/bin/sh
# Data-parallel throughput: one process with one thread against `mpirun -np 2` with one thread
# per rank (each rank bound to a core, Open MPI's default for 2 ranks on 2 cores), with the
# gradient reduction after backward (--overlap 0) and overlapped with it (--overlap 1),
# alternately (the machine is shared: the ratio of neighbouring runs is what counts), on the
# CNN and the transformer at a global batch of 64. Prints bench_dist's JSON lines with the load
# average before each triple.
#
#   benchmarks/bench_dist.sh build/release/benchmarks/bench_dist [ROUNDS] [CNN_STEPS] [TRANSFORMER_STEPS]
set -eu
bin=${1:?usage: bench_dist.sh PATH/TO/bench_dist [ROUNDS] [CNN_STEPS] [TRANSFORMER_STEPS]}
rounds=${2:-3}
export OMP_NUM_THREADS=1
mpi="mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1"
for model in cnn transformer; do
  if [ "$model" = cnn ]; then steps=${3:-200}; else steps=${4:-20}; fi
  i=0
  while [ "$i" -lt "$rounds" ]; do
    echo "# $(uptime)"
    "$bin" --model "$model" --rounds 1 --steps "$steps"
    $mpi "$bin" --model "$model" --rounds 1 --steps "$steps" --overlap 0
    $mpi "$bin" --model "$model" --rounds 1 --steps "$steps" --overlap 1
    i=$((i + 1))
  done
done
echo "# $(uptime)"
