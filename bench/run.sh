#!/usr/bin/env bash
# dispel's benchmark harness: record large real captures once, then measure
# dispel side by side with a pcap-parser iteration floor and tshark, in one
# run, on the same files, with peak memory for each.
#
# Usage (as root: tcpdump, unshare and ethtool need it):
#   bench/run.sh                 record (if not cached) and measure
#   bench/run.sh --record-only   only make sure the captures exist
#   bench/run.sh --tui-only      only the interactive view's store, on the
#                                cached captures (no root, no tshark)
#
# Environment:
#   DISPEL_BENCH_CACHE  captures, node_modules and logs live here, outside
#                       the repo (default ${XDG_CACHE_HOME:-$HOME/.cache}/dispel-bench)
#   BENCH_MB            approximate size of each capture in MB (default 300)
#   BENCH_RUNS          runs of each fast command; the best is kept (default 3)
#   BENCH_TSHARK        0 skips the (slow) tshark measurements (default 1)
#
# The captures:
#   ws-bulk     Node `ws` server and clients: 4 connections echoing a mix of
#               20 B … 70 KB text and binary messages (every length form).
#   sio-events  socket.io 4 server and socket.io-client sockets on the
#               WebSocket transport: many small "chat" events, a quarter with
#               acks, each echoed back.
# Both are recorded with tcpdump inside a private network namespace
# (unshare -n) whose loopback has MTU 1500 and segmentation offloads off, so
# segments are Ethernet-sized as on a real network, not 64 KiB loopback blobs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${DISPEL_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dispel-bench}
MB=${BENCH_MB:-300}
RUNS=${BENCH_RUNS:-3}
export NODE_PATH=$CACHE/node/node_modules
export DISPEL_BENCH_CACHE=$CACHE

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ------------------------------------------------------------- recording --
# Re-entry point, inside the new network namespace: NAME FILE PORT.
if [[ ${1:-} == --netns-record ]]; then
  name=$2 file=$3 port=$4
  ip link set lo up
  ip link set lo mtu 1500
  ethtool -K lo tso off gso off gro off >/dev/null
  tcpdump -i lo -s 0 -B 65536 -U -w "$file" "tcp port $port" 2>"$file.tcpdump.log" &
  dump=$!
  for _ in $(seq 100); do grep -q 'listening on' "$file.tcpdump.log" && break; sleep 0.05; done
  case $name in
    ws-bulk) node "$HERE/js/ws_bulk.js" "$port" "$MB" 4 ;;
    # ~300 bytes of packets per event (event, echo, ack, TCP ACKs) at MTU 1500.
    sio-events) node "$HERE/js/sio_events.js" "$port" $((MB * 1000000 / 300)) 4 ;;
  esac
  sleep 0.5
  kill -INT "$dump"
  wait "$dump" || true
  cat "$file.tcpdump.log" >&2
  dropped=$(awk '/dropped by kernel/ {print $1}' "$file.tcpdump.log")
  [[ ${dropped:-0} == 0 ]] || { rm -f "$file"; die "$name: tcpdump dropped $dropped packets; re-run on a quieter machine"; }
  exit 0
fi

# ---------------------------------------------------- the TUI's store --
# examples/tui_store drives the interface's App over the indexed timeline
# as the event loop does and reports: the first screenful of rows with
# their summaries (target ≤ 0.5 s), the whole capture indexed and
# navigable (target ≤ 2 s), the last screen after End, the longest pump
# (what a keypress may wait), with lessons the time until every step's
# lesson is bound, and peak RSS (target ≤ the capture's size).
tui_bench() {  # CAPTURE... ; appends a table to $RESULTS
  (cd "$ROOT" && cargo build --release --quiet --example tui_store)
  {
    echo
    echo "| capture | TUI store | first screen (s) | indexed (s) | End → last screen (s) | worst pump (ms) | lessons bound (s) | steps | peak RSS (MiB) | capture (MiB) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  } >>"$RESULTS"
  local cap out mode
  for cap in "$@"; do
    # Without lessons, then as `dispel` runs: the bundled lessons bound to
    # every step in the background (until "lessons bound").
    for mode in indexed lessons; do
      log "TUI store on $(basename "$cap") ($mode)"
      out=$(/usr/bin/time -o "$CACHE/time.out" -f '%M' "$ROOT/target/release/examples/tui_store" "$cap" \
        $([[ $mode == lessons ]] && echo lessons) 2>"$CACHE/last.stderr") ||
        { cat "$CACHE/last.stderr" >&2; die "failed: tui_store $cap $mode"; }
      val() { awk -v k="$1" '$1 == k {print $2}' <<<"$out"; }
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |\n' "$(basename "$cap")" "$mode" \
        "$(val first_screen_s)" "$(val indexed_s)" "$(val last_screen_s)" "$(val worst_pump_ms)" \
        "$(val bound_s || true)" "$(val steps)" "$(awk -v k="$(tail -1 "$CACHE/time.out")" 'BEGIN {print k / 1024}')" \
        "$(awk -v s="$(stat -c %s "$cap")" 'BEGIN {print s / 1048576}')" >>"$RESULTS"
    done
  done
}

if [[ ${1:-} == --tui-only ]]; then
  [[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
  RESULTS=$CACHE/results-tui.md
  : >"$RESULTS"
  caps=()
  for f in "$CACHE/ws-bulk-${MB}MB.pcap" "$CACHE/sio-events-${MB}MB.pcap"; do
    [[ -s $f ]] || die "$f is missing: run bench/run.sh --record-only (as root) first"
    caps+=("$f")
  done
  tui_bench "${caps[@]}"
  log "results (also in $RESULTS):"
  cat "$RESULTS"
  exit 0
fi

[[ $(id -u) == 0 ]] || die "run as root (tcpdump, unshare, ethtool)"
for c in tcpdump ethtool unshare node npm tshark; do
  command -v "$c" >/dev/null || die "$c is missing (apt-get install tcpdump ethtool tshark nodejs npm)"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"
mkdir -p "$CACHE/node"

stamp=$(cat "$ROOT/captures/record/package-lock.json" | sha256sum)
if [[ ! -f $CACHE/node/.stamp || $(cat "$CACHE/node/.stamp") != "$stamp" ]]; then
  log "npm ci (the captures' pinned packages) in $CACHE/node"
  cp "$ROOT/captures/record/package.json" "$ROOT/captures/record/package-lock.json" "$CACHE/node/"
  (cd "$CACHE/node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$stamp" >"$CACHE/node/.stamp"
fi

record() {  # NAME PORT -> path of the cached capture
  local name=$1 port=$2 file=$CACHE/$1-${MB}MB.pcap
  if [[ ! -s $file ]]; then
    log "recording $name (~$MB MB) into $file"
    unshare --net -- bash "$HERE/run.sh" --netns-record "$name" "$file.tmp" "$port" >&2
    mv "$file.tmp" "$file"
    mv "$file.tmp.tcpdump.log" "$file.tcpdump.log"
  fi
  echo "$file"
}
BULK=$(record ws-bulk 5101)
SIO=$(record sio-events 5102)
[[ ${1:-} == --record-only ]] && exit 0

# ------------------------------------------------------------- measuring --
log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin dispel --example pcap_floor)
DISPEL=$ROOT/target/release/dispel
FLOOR=$ROOT/target/release/examples/pcap_floor
HAVE_CHECK=0
"$DISPEL" check --help >/dev/null 2>&1 && HAVE_CHECK=1

measure() {  # RUNS CMD...: prints "seconds maxrss_kib" of the fastest run
  local runs=$1 best= rss= i out
  shift
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -o "$CACHE/time.out" -f '%e %M' "$@" >/dev/null 2>"$CACHE/last.stderr" ||
      { cat "$CACHE/last.stderr" >&2; die "failed: $*"; }
    out=$(tail -1 "$CACHE/time.out")
    if [[ -z $best ]] || awk -v a="${out% *}" -v b="$best" 'BEGIN {exit !(a < b)}'; then
      best=${out% *}
    fi
    # Peak memory: the largest seen over the runs.
    [[ -z $rss || ${out#* } -gt $rss ]] && rss=${out#* }
  done
  echo "$best $rss"
}

RESULTS=$CACHE/results.md
{
  echo "| capture | tool | seconds | MB/s | peak RSS (MiB) | × floor | tshark ÷ dispel |"
  echo "|---|---|---:|---:|---:|---:|---:|"
} >"$RESULTS"

row() {  # CAPTURE TOOL SECONDS RSS FLOOR [TSHARK_SECONDS]
  local size mbps ratio vs=
  size=$(stat -c %s "$1")
  mbps=$(awk -v s="$size" -v t="$3" 'BEGIN {printf "%.0f", (t > 0 ? s / 1e6 / t : 0)}')
  ratio=$(awk -v t="$3" -v f="$5" 'BEGIN {printf "%.1f", (f > 0 ? t / f : 0)}')
  [[ -n ${6:-} ]] && vs=$(awk -v t="$3" -v s="$6" 'BEGIN {printf "%.0f×", (t > 0 ? s / t : 0)}')
  printf '| %s | %s | %.2f | %s | %.0f | %s | %s |\n' "$(basename "$1")" "$2" "$3" "$mbps" \
    "$(awk -v k="$4" 'BEGIN {print k / 1024}')" "$ratio" "$vs" >>"$RESULTS"
}

for cap in "$BULK" "$SIO"; do
  port=5101
  [[ $cap == "$SIO" ]] && port=5102
  log "measuring $(basename "$cap") ($(($(stat -c %s "$cap") / 1000000)) MB)"
  read -r floor floor_rss < <(measure "$RUNS" "$FLOOR" "$cap")
  tf= tj=
  if [[ ${BENCH_TSHARK:-1} != 0 ]]; then
    read -r tf tf_rss < <(measure 1 tshark -r "$cap" -d "tcp.port==$port,http" \
      -T fields -e frame.number -e websocket.opcode -e websocket.payload_length)
    read -r tj tj_rss < <(measure 1 tshark -r "$cap" -d "tcp.port==$port,http" \
      -T json -J websocket)
  fi
  row "$cap" "pcap-parser floor" "$floor" "$floor_rss" "$floor"
  if ((HAVE_CHECK)); then
    read -r c c_rss < <(measure "$RUNS" "$DISPEL" check "$cap")
    row "$cap" "dispel check" "$c" "$c_rss" "$floor" "$tf"
  fi
  read -r n n_rss < <(measure "$RUNS" "$DISPEL" explain "$cap" --format ndjson)
  row "$cap" "dispel explain --format ndjson" "$n" "$n_rss" "$floor" "$tj"
  if [[ -n $tf ]]; then
    row "$cap" "tshark -T fields" "$tf" "$tf_rss" "$floor"
    row "$cap" "tshark -T json -J websocket" "$tj" "$tj_rss" "$floor"
  fi
done

tui_bench "$BULK" "$SIO"

log "results (also in $RESULTS):"
cat "$RESULTS"
log "'tshark ÷ dispel' compares check with tshark -T fields, and ndjson explain with tshark -T json"
