#!/usr/bin/env bash
# Runs one libFuzzer target of the fuzz preset (clang, ASan + UBSan) for a given time.
#   scripts/fuzz.sh TARGET SECONDS [more libFuzzer flags]
#   scripts/fuzz.sh list
#   scripts/fuzz.sh report        (CPU time, runs and findings per target, from runs.tsv)
#   scripts/fuzz.sh triage TARGET [FOLDER]  (replays each finding, or each input in FOLDER:
#                                 "tamp" or the library it happened in, and the function)
# Targets: onnx_model, tensor_proto, idx, hdf5_dataset, checkpoint, recipe (fuzz/CMakeLists.txt).
#   scripts/fuzz.sh all SECONDS   (every target in turn, SECONDS each; names those with findings)
# scripts/setup.sh installs what the preset needs and builds the target first. The corpus
# grows in build/fuzz/corpus/TARGET, seeded from the files fuzz/CMakeLists.txt names (copied
# to build/fuzz/seeds/TARGET at every run); findings
# (crash-*, timeout-*, oom-*, leak-*) land in build/fuzz/findings/TARGET/, and every run
# appends a line to build/fuzz/runs.tsv
# (date, target, wall seconds, CPU seconds, executions, result). The fuzzer runs at nice 10
# (TAMP_FUZZ_NICE), so on a busy machine CPU time, not wall time, is what was spent. Exits
# nonzero on a finding. One run per target at a time (runs of different targets may share the
# machine). Stop a run early with SIGINT to the fuzzer (recorded as interrupted, not a finding).
# Replay one input: build/fuzz/fuzz/TARGET_fuzzer FILE. Leaks inside
# libhdf5 are suppressed (fuzz/lsan.supp says why). A fuzzer stopped with SIGSTOP for longer
# than -timeout reports a false timeout when it resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/fuzz

if [ "${1:-}" = list ]; then
  sed -n 's/^tamp_fuzzer(\([a-z0-9_]*\).*/\1/p' fuzz/CMakeLists.txt
  exit 0
fi
if [ "${1:-}" = report ]; then
  [ -f "$build/runs.tsv" ] || { echo "fuzz.sh: no runs recorded in $build/runs.tsv"; exit 0; }
  printf "%-14s %6s %9s %14s %8s %s\n" target runs "CPU min" executions findings "CPU min since the last finding"
  awk -F'\t' '{ cpu[$2] += $4; n[$2] += $5; runs[$2]++; since[$2] += $4
                 if ($6 ~ /^FINDING/) { bad[$2]++; since[$2] = 0 } }
    END { for (t in cpu) printf "%-14s %6d %9.1f %14d %8d %.1f\n", t, runs[t], cpu[t] / 60, n[t], bad[t], since[t] / 60 }' \
    "$build/runs.tsv" | sort
  exit 0
fi
if [ "${1:-}" = triage ]; then
  # Replays each finding of a target and names where it happened: the innermost stack frame
  # outside the sanitizer runtime, libc (its frames may name only glibc source folders, as a
  # stack-protector abort does) and the libc calls ASan intercepts, as "tamp" (code
  # compiled into the target: ours to fix) or the shared library's name, then the function.
  t="${2:?usage: scripts/fuzz.sh triage TARGET [FOLDER]}"
  shopt -s nullglob
  for f in "${3:-$build/findings/$t}"/{crash,oom,timeout,leak}-*; do
    where=$(ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=2048 \
      LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp" "$build/fuzz/${t}_fuzzer" -rss_limit_mb=2048 "$f" 2>&1 |
      awk '/^ *#[0-9]+ / && !/__interceptor_|__sanitizer|__asan|__ubsan|libc\.so|sysdeps|(string|nptl|stdlib|debug|libio|signal)\/|in fuzzer::| in (malloc|calloc|realloc|aligned_alloc|operator new|free|str[a-z]*|mem[a-z]*) / {
             fn = ($3 == "in") ? $4 : (match($0, /\+0x[0-9a-f]+/) ? substr($0, RSTART, RLENGTH) : "?")
             if (match($0, /\(\/[^)+ ]*\.so[^)+ ]*/)) { n = substr($0, RSTART + 1, RLENGTH - 1); sub(/.*\//, "", n) }
             else n = "tamp"  # compiled into the target: tamp and the headers it inlines
             print n, fn; exit }' || true)
    echo "${where:-no report on replay} $(basename "$f")"
  done
  exit 0
fi
if [ "${1:-}" = all ]; then
  shift
  found=""
  for t in $("$0" list); do "$0" "$t" "$@" || found="$found $t"; done
  [ -z "$found" ] || { echo "fuzz.sh: findings in:$found (scripts/fuzz.sh triage TARGET)"; exit 1; }
  exit 0
fi
target="${1:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags] (or: scripts/fuzz.sh list)}"
seconds="${2:?usage: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags]}"
shift 2
# libhdf5 1.10.8 crashes on many malformed files within a minute: the HDF5 targets go on past
# its crashes (fork mode) unless other flags are given, and `triage` sorts what they kept.
if [ $# = 0 ]; then
  case "$target" in hdf5_dataset|checkpoint) set -- -fork=1 -ignore_crashes=1 ;; esac
fi

# Installs clang and friends when missing, configures and builds the target (incrementally).
scripts/setup.sh fuzz "${target}_fuzzer"
bin="$build/fuzz/${target}_fuzzer"

# Seeds: copied into one folder (libFuzzer takes folders, the list has files and globs).
corpus="$build/corpus/$target"
seeds="$build/seeds/$target"
findings="$build/findings/$target"
mkdir -p "$corpus" "$findings"
rm -rf "$seeds"  # copied afresh each run, so changed seeds are picked up
mkdir -p "$seeds"
shopt -s nullglob
while read -r pattern; do
  [ -n "$pattern" ] || continue
  for f in $pattern; do
    if [ -d "$f" ]; then
      find "$f" -maxdepth 1 -type f -exec cp {} "$seeds/" \;
    elif [ -f "$f" ]; then
      # Several node tests share file names: keep the folder in the copy's name.
      cp "$f" "$seeds/$(echo "$f" | tr '/' '_')"
    fi
  done
done < "$bin.seeds"
shopt -u nullglob
dict=()
[ -f "$bin.dict" ] && dict=(-dict="$bin.dict")

log="$findings/last_run.log"
cpu_file="$findings/last_run.cpu"
set +e
started=$SECONDS
# An allocation over 2 GiB fails (NULL from malloc, std::bad_alloc from new) as it would on a
# machine without that memory, instead of ASan stopping: libhdf5 asks for sizes read from the
# file and handles NULL; a bad_alloc escaping tamp is still a finding.
ASAN_OPTIONS="${ASAN_OPTIONS:-allocator_may_return_null=1:max_allocation_size_mb=2048}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" LSAN_OPTIONS="suppressions=$PWD/fuzz/lsan.supp" \
  nice -n "${TAMP_FUZZ_NICE:-10}" /usr/bin/time -f '%U %S' -o "$cpu_file" "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=2097152 -timeout=60 \
  -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$@" "$corpus" "$seeds" \
  2>&1 | tee "$log" | grep -E '^(#[0-9]+.*(INITED|DONE)|==[0-9]+==|SUMMARY|artifact|stat::)'
status=${PIPESTATUS[0]}
wall=$((SECONDS - started))
set -e
# Fork mode: the parent's "#N: cov: ..." lines count its jobs' executions (its own stats say 0).
runs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
[ -n "$runs" ] || runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cpu=$(awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { v = $1 + $2 } END { if (v != "") printf "%.0f", v }' "$cpu_file")
case "$status" in
  0) result="no finding" ;;
  72) result="no finding; interrupted (SIGINT)" ;;  # libFuzzer's exit code for an interrupt
  *) kept="$findings/finding-$(date -u +%Y%m%dT%H%M%S).log"  # the next run overwrites last_run.log
     cp "$log" "$kept"
     result="FINDING (exit $status), see $kept" ;;
esac
[ "$status" = 72 ] && status=0
printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$wall" "${cpu:-0}" "${runs:-0}" "$result" \
  >> "$build/runs.tsv"
echo "fuzz.sh: $target, ${wall} s wall, ${cpu:-?} s CPU, ${runs:-?} executions: $result"
exit "$status"
