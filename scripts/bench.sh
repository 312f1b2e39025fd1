#!/usr/bin/env bash
# Run every benchmark and write docs/benchmarks.md (figures, goals, machine, plots).
#
#   bash scripts/bench.sh [--quick]
#
# Needs the venv that `bash scripts/test.sh` makes (and its apt packages: mosquitto,
# alsa-utils, libasound2); installs what only the benches need (matplotlib) into it.
# The benches that time or count CPU run one at a time; then the soak, the fault
# campaigns, the jitter traces and the cache crash test run together: they wait on
# real-time audio and sockets, not on the CPU, and measure no durations that the
# others' load could move. Raw figures and each bench's output: build/bench/.
# HERALD_BENCH_NOTE="..." adds a line to the report (e.g. "shared machine").
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${HERALD_VENV:-.venv}"
PY="$VENV/bin/python"
if [ ! -x "$PY" ]; then
    echo "no venv at $VENV: run 'bash scripts/test.sh' first (it installs herald and its test tools)" >&2
    exit 1
fi
QUICK=()
if [ "${1:-}" = "--quick" ]; then QUICK=(--quick); fi

echo "==> installing matplotlib into $VENV"
"$PY" -m pip install -q --disable-pip-version-check "matplotlib>=3.7"

OUT=build/bench
rm -rf "$OUT"
mkdir -p "$OUT" docs
start=$(date +%s)
load=$(cut -d' ' -f1-3 /proc/loadavg)
failed=()

run() {  # run NAME ARGS...: one bench, its output to the console and build/bench/NAME.txt
    local name=$1
    shift
    echo "==> bench/$name.py $*"
    if ! "$PY" "bench/$name.py" "$@" "${QUICK[@]}" --save "$OUT/$name.json" 2>&1 | tee "$OUT/$name.txt"; then
        failed+=("$name")
    fi
}

run_quietly() {  # the same, output to the file only (these run side by side)
    local name=$1
    shift
    if ! "$PY" "bench/$name.py" "$@" "${QUICK[@]}" --save "$OUT/$name.json" >"$OUT/$name.txt" 2>&1; then
        echo "$name" >>"$OUT/failed"
    fi
}

run ttfa -n 40
run footprint --idle-s 20
run latency -n 100 --offline 20
run sink_cpu --seconds 6
run piper_rtf --repeat 2
run hostile

echo "==> soak, faults, jitter and cache_crash side by side (several minutes; output in $OUT/)"
run_quietly soak &
run_quietly faults &
(run_quietly jitter && run_quietly cache_crash) &
wait
for name in soak faults jitter cache_crash; do
    echo "==> bench/$name.py"
    grep -E "^ *(ok|MISS|--) " "$OUT/$name.txt" || tail -5 "$OUT/$name.txt"
done
if [ -f "$OUT/failed" ]; then mapfile -t -O "${#failed[@]}" failed <"$OUT/failed"; fi

"$PY" - "$OUT/run.json" "$start" "$load" <<'PYEOF'
import datetime, json, os, sys, time
path, start, load = sys.argv[1], int(sys.argv[2]), sys.argv[3]
json.dump({"date": datetime.date.today().isoformat(), "seconds": int(time.time()) - start,
           "load": load, "note": os.environ.get("HERALD_BENCH_NOTE", "")}, open(path, "w"))
PYEOF
"$PY" bench/report.py --results "$OUT" --docs docs

if ((${#failed[@]})); then
    echo "benches that failed: ${failed[*]} (see $OUT/)" >&2
    exit 1
fi
