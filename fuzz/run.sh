#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS_PER_TARGET each,
# one after the other, niced, one libFuzzer process at a time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, all targets)
#
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`).
# Working corpora grow in fuzz/corpus/TARGET (not committed); the committed
# seeds in fuzz/seeds/TARGET are read too. Crashes land in
# fuzz/artifacts/TARGET/; each target's log is fuzz/logs/TARGET.log and the
# executions per target are collected in fuzz/logs/summary.txt.
#
# Limits: -rss_limit_mb=1024 and -malloc_limit_mb=512 turn unbounded memory
# (a length read from input and allocated) into a crash; -timeout=10 turns
# a hang into one.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
mkdir -p corpus logs artifacts
# Build once, then run the binaries: editing the sources while the run goes
# on does not rebuild (or break) the targets still waiting their turn.
nice -n 19 cargo +nightly fuzz build || exit 2
bin=target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
summary=logs/summary.txt
: > "$summary"
status=0
for t in "${targets[@]}"; do
    seeds=seeds/$t
    max_len=4096
    case $t in
        pipeline) seeds=seeds/capture; max_len=65536 ;;
        capture|tls) max_len=65536 ;;
    esac
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "== $t: ${secs}s" >&2
    nice -n 19 "$bin/$t" "corpus/$t" "$seeds" \
        -max_total_time="$secs" -max_len="$max_len" -timeout=10 \
        -rss_limit_mb=1024 -malloc_limit_mb=512 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" > "logs/$t.log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | tail -1 | awk '{print $2}')
    cov=$(grep -oE '#[0-9]+.*cov: [0-9]+' "logs/$t.log" | tail -1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')
    result=ok
    [ $rc -ne 0 ] && { result="CRASH (exit $rc, see logs/$t.log)"; status=1; }
    printf '%-12s %10s execs  cov %6s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "$result" | tee -a "$summary"
done
exit $status
