#!/usr/bin/env bash
# Re-record dispel's reference captures: real, unmodified libraries talking
# over loopback, recorded with tcpdump/dumpcap into captures/.
#
# Usage (as root: packet capture, network namespaces and apt need it):
#   captures/record/record.sh            record every capture
#   captures/record/record.sh NAME...    record only these (see --list)
#   captures/record/record.sh --list     print the capture names
#
# Environment:
#   DISPEL_RECORD_CACHE  venv, node_modules and logs live here, outside the
#                        repo (default ${XDG_CACHE_HOME:-$HOME/.cache}/dispel-record)
#   PYTHON               interpreter for the venv (default python3; 3.11 tested)
#
# Each capture: start the server, wait until it listens, start the capture
# and wait until it is really capturing, run the client scenario, wait a
# moment so the last FIN/ACKs are in, stop the capture with SIGINT, stop the
# server, check the file with tshark, move it into captures/. Everything
# started is stopped by the EXIT trap, also on failure. Re-running gives
# equivalent, never byte-identical files (random masks, keys, sids, ports).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(cd "$HERE/.." && pwd)
CACHE=${DISPEL_RECORD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dispel-record}
VENV=$CACHE/venv
PY=$VENV/bin/python
LOGS=$CACHE/logs
WORK=$CACHE/work                          # captures are written here first
export DISPEL_RECORD_CACHE=$CACHE         # the netns child re-reads it
export NODE_PATH=$CACHE/node/node_modules # lets js/*.js require() the pinned packages
export PYTHONUNBUFFERED=1
# The scenarios talk to loopback only; never let an environment proxy in between.
export NO_PROXY=127.0.0.1,::1,localhost no_proxy=127.0.0.1,::1,localhost

# name  port  (one distinct port per capture, so filters never overlap)
CAPTURES=(
  flask-socketio-gevent     5001
  flask-socketio-eventlet   5002
  flask-socketio-threading  5003
  flask-sock-echo           5004
  node-socketio-v4          5005
  node-socketio-eio3        5006
  ws-permessage-deflate     5007
  browser-flask-socketio    5008
  flask-socketio-ipv6       5009
  flask-socketio-any        5010
  impaired-flask-sock       5011
  broken-accept             5012
  broken-server-masked      5013
  broken-length-not-minimal 5014
  broken-close-code         5015
  broken-fragmented-ping    5016
  broken-invalid-utf8       5017
  tls13-websockets          5018
  tls13-chacha20            5019
  tls12-ecdhe-aes128-gcm    5020
  tls12-ecdhe-chacha20      5021
  tls13-websockets-dsb      5022
  node-socketio-https       5023
  flask-socketio-https      5024
  browser-flask-socketio-https 5025
  eventlet-invalid-utf8     5026
  node-socketio-msgpack     5050
  ending-client-silent      5027
  ending-server-silent      5028
  ending-server-disconnect  5029
  ending-server-killed-ws   5030
  ending-server-killed-polling 5031
  ending-server-restart     5032
  ending-not-offered        5033
  ending-polling-only       5034
  ending-too-large          5035
  ending-origin-refused     5036
  ending-no-sticky-sessions 5037
  ending-upgrade-refused    5038
  ending-py-client-silent   5039
  ending-py-server-disconnect 5040
  ending-probe-failed       5041
  ending-too-large-polling  5042
)
# TLS captures: the client's key log is saved beside the capture as
# captures/NAME.keys; the -dsb capture carries it inside (pcapng DSB).
TLS_CAPTURES=" tls13-websockets tls13-chacha20 tls12-ecdhe-aes128-gcm tls12-ecdhe-chacha20 tls13-websockets-dsb node-socketio-https flask-socketio-https browser-flask-socketio-https "
# Captures that only tests read (tests/trace/, not the course's captures/):
# they pin a fact `dispel lessons trace` proves about a stack. (The
# committed tests/trace/eventlet-invalid-utf8.pcap was recorded on 5018,
# before the TLS captures took it.)
TEST_CAPTURES=" eventlet-invalid-utf8 "
# These run inside a private network namespace (unshare -n) that has only
# its own lo: the browser can reach nothing but our server, and the
# impairment rules touch nothing outside.
NETNS_CAPTURES=" browser-flask-socketio browser-flask-socketio-https impaired-flask-sock "

# Captures with no WebSocket at all (polling only, or a refused handshake).
NO_WS_CAPTURES=" ending-server-killed-polling ending-server-restart ending-not-offered ending-polling-only ending-origin-refused ending-no-sticky-sessions ending-upgrade-refused ending-probe-failed ending-too-large-polling "

log() { printf '\033[1m[record]\033[0m %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup --
PIDS=()       # every background process we started, in start order
TMPDIRS=()

stop_pid() {  # PID [SIGNAL]: signal one process we started and reap it
  local pid=$1 sig=${2:-TERM} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? i
  # Newest first: client/capture before server before helpers.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[i]}" TERM
  done
  for i in "${TMPDIRS[@]}"; do rm -rf "$i"; done
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

spawn() {  # LOGNAME CMD...: run in background, log to $LOGS, remember pid in LAST_PID
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

wait_for_line() {  # FILE REGEX SECONDS
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "timed out waiting for /$2/ in $1"
}

wait_listen() {  # PORT: until something listens on it (ss opens no connection,
  local i        # so no probe traffic can end up in a capture)
  for ((i = 0; i < 150; i++)); do
    [[ -n $(ss -Hltn "sport = :$1") ]] && return 0
    sleep 0.1
  done
  die "nothing listening on port $1 (see $LOGS/$NAME.server.log)"
}

# ---------------------------------------------------------------- capture --
CAP_PID=
start_capture() {  # FILE TOOL FILTER EXTRA_ARGS...  TOOL: tcpdump|tcpdump-any|dumpcap
  local file=$1 tool=$2 filter=$3; shift 3
  local clog="$LOGS/$NAME.capture.log"
  case $tool in
    # -U + --immediate-mode: hand every packet to the file as it arrives;
    # without immediate mode the last second of packets can still sit in
    # the kernel ring buffer when SIGINT arrives, and be lost.
    # -B 16 MiB: the default 2 MiB ring dropped packets in immediate mode
    # on a busy 2-core machine ("8 packets dropped by kernel").
    # -Z root: keep root so it can write wherever $WORK is.
    tcpdump)     spawn "$NAME.capture" tcpdump -Z root -s 0 -U --immediate-mode -B 16384 -i lo "$@" -w "$file" "$filter" ;;
    tcpdump-any) spawn "$NAME.capture" tcpdump -Z root -s 0 -U --immediate-mode -B 16384 -i any "$@" -w "$file" "$filter" ;;
    dumpcap)     spawn "$NAME.capture" dumpcap -i lo -s 0 "$@" -f "$filter" -w "$file" ;;
  esac
  CAP_PID=$LAST_PID
  # Both tools print this only once the capture socket is live and filtered.
  wait_for_line "$clog" 'listening on|Capturing on' 10
}

stop_capture() {
  sleep 1                  # last FIN/ACKs and their delivery to the capture
  stop_pid "$CAP_PID" INT  # SIGINT: flush and close the file properly
  # A capture that lost packets would teach wrong lessons: refuse it.
  # (tcpdump: "N packets dropped by kernel"; dumpcap: "received/dropped ... R/D (pcap:")
  if grep -qE '^[1-9][0-9]* packets dropped by kernel|/[1-9][0-9]* \(pcap:' "$LOGS/$NAME.capture.log"; then
    die "$NAME: the capture itself dropped packets: $(cat "$LOGS/$NAME.capture.log")"
  fi
}

run_client() {  # CMD...: the scenario; its failure fails the capture
  timeout 90 "$@" >"$LOGS/$NAME.client.log" 2>&1 || {
    cat "$LOGS/$NAME.client.log" >&2
    die "$NAME: client failed (logs in $LOGS)"
  }
}

# ------------------------------------------------------------- scenarios --
# Each cap_* records $NAME on $PORT into $FILE (a path under $WORK).

sio_python() {  # MODE HOST URL_HOST TOOL [capture args]: Flask-SocketIO + python-socketio
  local mode=$1 host=$2 url_host=$3 tool=$4; shift 4
  spawn "$NAME.server" "$PY" "$HERE/py/sio_server.py" "$mode" "$host" "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" "$tool" "tcp port $PORT" "$@"
  run_client "$PY" "$HERE/py/sio_client.py" "http://$url_host:$PORT"
  stop_capture
  stop_pid "$server" TERM
}

cap_flask-socketio-gevent()    { sio_python gevent    127.0.0.1 127.0.0.1 tcpdump; }
cap_flask-socketio-eventlet()  { sio_python eventlet  127.0.0.1 127.0.0.1 tcpdump; }
cap_flask-socketio-threading() { sio_python threading 127.0.0.1 127.0.0.1 tcpdump; }
# pcapng straight from dumpcap (Wireshark's capture engine), over IPv6.
cap_flask-socketio-ipv6()      { sio_python gevent    ::1       '[::1]'   dumpcap; }
# The "any" pseudo-interface: link type LINUX_SLL2 (forced with -y, as older
# libpcap defaults to LINUX_SLL), nanosecond timestamps (pcap magic a1b23c4d).
cap_flask-socketio-any()       { sio_python gevent    127.0.0.1 127.0.0.1 tcpdump-any -y LINUX_SLL2 --time-stamp-precision=nano; }

cap_flask-sock-echo() {
  spawn "$NAME.server" "$PY" "$HERE/py/sock_server.py" 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/ws_client.py" "ws://127.0.0.1:$PORT/echo"
  stop_capture
  stop_pid "$server" TERM
}

# TLS: a throwaway self-signed certificate made now (never committed), a
# websockets echo server over TLS, and a client that logs its secrets
# (SSLContext.keylog_filename) to $KEYS.
tls_python() {  # [--tls12 CIPHERS]: extra client arguments
  local dir
  dir=$(mktemp -d); TMPDIRS+=("$dir")
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    >"$LOGS/$NAME.openssl.log" 2>&1 || die "$NAME: openssl could not make a certificate"
  rm -f "$KEYS"
  spawn "$NAME.server" "$PY" "$HERE/py/tls_ws_server.py" 127.0.0.1 "$PORT" "$dir/cert.pem" "$dir/key.pem"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/tls_ws_client.py" "wss://127.0.0.1:$PORT/echo" "$dir/cert.pem" "$KEYS" "$@"
  stop_capture
  stop_pid "$server" TERM
}

cap_tls13-websockets() { tls_python; }
# OpenSSL's default TLS 1.3 order puts AES-256-GCM first; this client's
# OpenSSL configuration offers ChaCha20-Poly1305 only.
cap_tls13-chacha20() {
  local conf
  conf=$(mktemp); TMPDIRS+=("$conf")
  printf '%s\n' 'openssl_conf = c' '[c]' 'ssl_conf = s' '[s]' 'system_default = d' \
    '[d]' 'Ciphersuites = TLS_CHACHA20_POLY1305_SHA256' >"$conf"
  OPENSSL_CONF=$conf tls_python
}
cap_tls12-ecdhe-aes128-gcm() { tls_python --tls12 ECDHE-RSA-AES128-GCM-SHA256; }
cap_tls12-ecdhe-chacha20()   { tls_python --tls12 ECDHE-RSA-CHACHA20-POLY1305; }
# The key log inside the capture: editcap (Wireshark's) injects it as a
# Decryption Secrets Block, so no --keylog is needed.
cap_tls13-websockets-dsb() {
  local plain=$WORK/$NAME.plain.pcap
  FILE=$plain tls_python
  editcap --inject-secrets "tls,$KEYS" "$plain" "$FILE" || die "$NAME: editcap failed"
  rm -f "$plain" "$KEYS"
  KEYS=
}

# socket.io 4 over HTTPS (polling, then wss): the client trusts the
# throwaway certificate through NODE_EXTRA_CA_CERTS and logs its secrets
# with node's --tls-keylog.
cap_node-socketio-https() {
  local dir
  dir=$(mktemp -d); TMPDIRS+=("$dir")
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    >"$LOGS/$NAME.openssl.log" 2>&1 || die "$NAME: openssl could not make a certificate"
  rm -f "$KEYS"
  spawn "$NAME.server" node "$HERE/js/sio_server.js" "$PORT" --tls "$dir/cert.pem" "$dir/key.pem"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client env NODE_EXTRA_CA_CERTS="$dir/cert.pem" node --tls-keylog="$KEYS" \
    "$HERE/js/sio4_client.js" "https://127.0.0.1:$PORT"
  stop_capture
  stop_pid "$server" TERM
}

# Flask-SocketIO (gevent) over HTTPS ← python-socketio: requests/urllib3
# (polling) and websocket-client (wss) both honour SSLKEYLOGFILE, and trust
# the throwaway certificate through REQUESTS_CA_BUNDLE and
# WEBSOCKET_CLIENT_CA_BUNDLE.
cap_flask-socketio-https() {
  local dir
  dir=$(mktemp -d); TMPDIRS+=("$dir")
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    >"$LOGS/$NAME.openssl.log" 2>&1 || die "$NAME: openssl could not make a certificate"
  rm -f "$KEYS"
  spawn "$NAME.server" "$PY" "$HERE/py/sio_server.py" gevent 127.0.0.1 "$PORT" "$dir/cert.pem" "$dir/key.pem"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client env SSLKEYLOGFILE="$KEYS" REQUESTS_CA_BUNDLE="$dir/cert.pem" \
    WEBSOCKET_CLIENT_CA_BUNDLE="$dir/cert.pem" "$PY" "$HERE/py/sio_client.py" "https://127.0.0.1:$PORT"
  stop_capture
  stop_pid "$server" TERM
}

node_pair() {  # SERVER_ARGS... -- CLIENT_SCRIPT URL
  local sargs=() client url
  while [[ $1 != -- ]]; do sargs+=("$1"); shift; done
  client=$2 url=$3
  spawn "$NAME.server" node "${sargs[@]}"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client node "$HERE/js/$client" "$url"
  stop_capture
  stop_pid "$server" TERM
}

cap_node-socketio-v4()      { node_pair "$HERE/js/sio_server.js" "$PORT" -- sio4_client.js "http://127.0.0.1:$PORT"; }
cap_node-socketio-eio3()    { node_pair "$HERE/js/sio_server.js" "$PORT" --allow-eio3 -- sio2_client.js "http://127.0.0.1:$PORT"; }
cap_ws-permessage-deflate() { node_pair "$HERE/js/ws_deflate_server.js" "$PORT" -- ws_deflate_client.js "ws://127.0.0.1:$PORT/"; }
# socket.io 4 with the official socket.io-msgpack-parser on both sides. Each
# side logs every packet it encodes (js/msgpack_log.js); those lines become
# captures/NAME.sent.jsonl, what tests compare dispel's decode with.
cap_node-socketio-msgpack() {
  node_pair "$HERE/js/sio_msgpack_server.js" "$PORT" -- sio_msgpack_client.js "http://127.0.0.1:$PORT"
  grep -h '^SENT ' "$LOGS/$NAME.client.log" "$LOGS/$NAME.server.log" | sed 's/^SENT //' \
    >"$WORK/$NAME.sent.jsonl" || die "$NAME: no SENT lines in the logs"
}

# Sessions that end each way (js/ending_server.js, js/ending_client.js):
# pingInterval and pingTimeout 1 s, so a timeout takes seconds.
ending_node() {  # SERVER_ARGS... -- MODE [CLIENT_ARGS...]
  local sargs=()
  while [[ $1 != -- ]]; do sargs+=("$1"); shift; done
  shift
  spawn "$NAME.server" node "$HERE/js/ending_server.js" "$PORT" "${sargs[@]}"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client node "$HERE/js/ending_client.js" "http://127.0.0.1:$PORT" "$@"
  stop_capture
  stop_pid "$server" TERM
}

cap_ending-client-silent()     { ending_node -- client-silent; }
cap_ending-server-silent()     { ending_node -- server-silent; }
cap_ending-server-disconnect() { ending_node -- server-kick; }
cap_ending-server-killed-ws()  { ending_node -- server-killed; }
cap_ending-server-killed-polling() { ending_node -- server-killed --polling; }
cap_ending-not-offered()       { ending_node --polling-only -- disconnect; }
cap_ending-polling-only()      { ending_node -- disconnect --polling; }
cap_ending-too-large()         { ending_node --max-buffer 1000 -- too-large; }
cap_ending-too-large-polling() { ending_node --max-buffer 1000 -- too-large --polling; }

# The server is killed under a polling client and started again: the
# client reconnects to a new session.
cap_ending-server-restart() {
  spawn "$NAME.server" node "$HERE/js/ending_server.js" "$PORT"
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  timeout 90 node "$HERE/js/ending_client.js" "http://127.0.0.1:$PORT" restart --polling \
    >"$LOGS/$NAME.client.log" 2>&1 &
  local client=$!
  PIDS+=("$client")
  wait_for_line "$LOGS/$NAME.server.log" 'dying' 20
  sleep 0.5
  spawn "$NAME.server2" node "$HERE/js/ending_server.js" "$PORT"
  local server=$LAST_PID
  wait "$client" || { cat "$LOGS/$NAME.client.log" >&2; die "$NAME: client failed"; }
  stop_capture
  stop_pid "$server" TERM
}

# js/lb_proxy.js on $PORT in front of socket.io servers on the ports after
# it (127.0.0.1 only): the capture sees the client's side of the proxy.
ending_proxy() {  # PROXY_MODE NBACKENDS -- CLIENT_ARGS...
  local mode=$1 n=$2 i ports=()
  shift 3
  for ((i = 1; i <= n; i++)); do
    spawn "$NAME.server$i" node "$HERE/js/ending_server.js" "$((PORT + 100 * i))"
    wait_listen "$((PORT + 100 * i))"
    ports+=("$((PORT + 100 * i))")
  done
  spawn "$NAME.proxy" node "$HERE/js/lb_proxy.js" "$PORT" "$mode" "${ports[@]}"
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client node "$HERE/js/ending_client.js" "http://127.0.0.1:$PORT" "$@"
  stop_capture
}
# Two servers behind a round-robin proxy: "Session ID unknown".
cap_ending-no-sticky-sessions() { ending_proxy round-robin 2 -- lb --polling; }
# A proxy that refuses WebSocket upgrades: the session stays on polling.
cap_ending-upgrade-refused()    { ending_proxy no-websocket 1 -- disconnect; }
# A proxy that closes upgraded connections: the probe fails.
cap_ending-probe-failed()       { ending_proxy close-upgraded 1 -- disconnect; }

# Flask-SocketIO (gevent, py/ending_server.py) under the same Node client.
ending_py() {  # CLIENT_ARGS...
  spawn "$NAME.server" "$PY" "$HERE/py/ending_server.py" 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client node "$HERE/js/ending_client.js" "http://127.0.0.1:$PORT" "$@"
  stop_capture
  stop_pid "$server" TERM
}
cap_ending-py-client-silent()     { ending_py client-silent; }
cap_ending-py-server-disconnect() { ending_py server-kick; }

# python-socketio (Flask-SocketIO, gevent) with cors_allowed_origins: a
# python-socketio client that sends another Origin is refused.
cap_ending-origin-refused() {
  spawn "$NAME.server" "$PY" "$HERE/py/origin_server.py" 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/origin_client.py" "http://127.0.0.1:$PORT"
  stop_capture
  stop_pid "$server" TERM
}

# Runs inside its own network namespace (see NETNS_CAPTURES).
cap_browser-flask-socketio() {
  local profile
  profile=$(mktemp -d "$WORK/chromium-profile.XXXXXX")
  TMPDIRS+=("$profile")
  export SIO_CLIENT_JS=$NODE_PATH/socket.io-client/dist/socket.io.min.js
  spawn "$NAME.server" "$PY" "$HERE/py/sio_server.py" gevent 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  # setsid: the browser and all its helper processes form one process group
  # that we can stop as a whole, by its id.
  spawn "$NAME.browser" setsid "$(command -v chromium)" \
    --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-quic \
    --no-default-browser-check --disable-extensions \
    --user-data-dir="$profile" "http://127.0.0.1:$PORT/"
  local browser=$LAST_PID
  # The page emits "done" once it has the server's reply.
  wait_for_line "$LOGS/$NAME.server.log" 'BROWSER-DONE' 60
  sleep 0.5
  # Kill the browser as a user closing it would: no socket.disconnect(), the
  # kernel closes its sockets. (Signal the group we created, by its id.)
  kill -TERM -- "-$browser" 2>/dev/null || true
  stop_pid "$browser" TERM
  stop_capture
  stop_pid "$server" TERM
}

# The same page over HTTPS: Chromium writes its key log (SSLKEYLOGFILE)
# and accepts the throwaway certificate (--ignore-certificate-errors).
cap_browser-flask-socketio-https() {
  local profile dir
  profile=$(mktemp -d "$WORK/chromium-profile.XXXXXX")
  dir=$(mktemp -d)
  TMPDIRS+=("$profile" "$dir")
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    >"$LOGS/$NAME.openssl.log" 2>&1 || die "$NAME: openssl could not make a certificate"
  rm -f "$KEYS"
  export SIO_CLIENT_JS=$NODE_PATH/socket.io-client/dist/socket.io.min.js
  spawn "$NAME.server" "$PY" "$HERE/py/sio_server.py" gevent 127.0.0.1 "$PORT" "$dir/cert.pem" "$dir/key.pem"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  spawn "$NAME.browser" env SSLKEYLOGFILE="$KEYS" setsid "$(command -v chromium)" \
    --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-quic \
    --no-default-browser-check --disable-extensions --ignore-certificate-errors \
    --user-data-dir="$profile" "https://127.0.0.1:$PORT/"
  local browser=$LAST_PID
  wait_for_line "$LOGS/$NAME.server.log" 'BROWSER-DONE' 60
  sleep 0.5
  kill -TERM -- "-$browser" 2>/dev/null || true
  stop_pid "$browser" TERM
  stop_capture
  stop_pid "$server" TERM
}

# Runs inside its own network namespace (see NETNS_CAPTURES).
cap_impaired-flask-sock() {
  # Ethernet-sized segments (lo's MTU is 64 KiB) and no segmentation
  # offload, so 20 kB messages become ~14 real segments each, every one of
  # which can be lost or reordered on its own.
  ip link set lo mtu 1500
  ethtool -K lo tso off gso off gro off
  iptables -A OUTPUT -o lo -p tcp --sport "$PORT" -j NFQUEUE --queue-num 0
  iptables -A OUTPUT -o lo -p tcp --dport "$PORT" -j NFQUEUE --queue-num 0
  spawn "$NAME.impair" "$PY" "$HERE/py/impair.py" --queue 0
  wait_for_line "$LOGS/$NAME.impair.log" 'ready' 10
  spawn "$NAME.server" "$PY" "$HERE/py/sock_server.py" 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/ws_client.py" "ws://127.0.0.1:$PORT/echo" --bulk 6 20000
  sleep 0.5              # impair.py may still hold the final segments
  stop_capture
  stop_pid "$server" TERM
}

# Deliberately broken servers (py/broken_server.py, one bug each) and a
# strict raw-socket client (py/raw_client.py): what a grader must catch.
broken_pair() {  # BUG
  spawn "$NAME.server" "$PY" "$HERE/py/broken_server.py" "$1" 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/raw_client.py" 127.0.0.1 "$PORT"
  stop_capture
  stop_pid "$server" TERM
}

cap_broken-accept()             { broken_pair accept; }
cap_broken-server-masked()      { broken_pair server-masked; }
cap_broken-length-not-minimal() { broken_pair length-not-minimal; }
cap_broken-close-code()         { broken_pair close-code; }
cap_broken-fragmented-ping()    { broken_pair fragmented-ping; }
cap_broken-invalid-utf8()       { broken_pair invalid-utf8; }

# The real eventlet stack (sio_server.py eventlet) fed invalid UTF-8 by a raw
# client (py/bad_utf8_client.py): eventlet answers Close 1011, not 1007.
cap_eventlet-invalid-utf8() {
  spawn "$NAME.server" "$PY" "$HERE/py/sio_server.py" eventlet 127.0.0.1 "$PORT"
  local server=$LAST_PID
  wait_listen "$PORT"
  start_capture "$FILE" tcpdump "tcp port $PORT"
  run_client "$PY" "$HERE/py/bad_utf8_client.py" 127.0.0.1 "$PORT"
  stop_capture
  stop_pid "$server" TERM
}

# ------------------------------------------------------------------ setup --
need_cmds() {  # CMD:DEBIAN_PACKAGE...: apt-get install whatever is missing
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

stamp_ok() {  # DIR FILES...: true if DIR/.stamp matches the FILES' hash
  [[ -f $1/.stamp && $(cat "$1/.stamp") == $(cat "${@:2}" | sha256sum) ]]
}
write_stamp() { cat "${@:2}" | sha256sum >"$1/.stamp"; }

setup() {  # SELECTED_NAMES...
  local names=" $* " impair=
  [[ $(id -u) == 0 ]] || die "run as root (tcpdump, dumpcap, unshare, apt-get)"
  need_cmds tcpdump:tcpdump dumpcap:tshark tshark:tshark capinfos:tshark \
            ss:iproute2 ip:iproute2 node:nodejs npm:npm "${PYTHON:-python3}":python3 \
            timeout:coreutils setsid:util-linux unshare:util-linux
  # Debian's python3 needs python3-venv for `-m venv`.
  "${PYTHON:-python3}" -c 'import ensurepip, venv' 2>/dev/null || need_cmds no-such-cmd:python3-venv
  if [[ $names == *" browser-flask-socketio"* ]]; then
    need_cmds chromium:chromium
  fi
  if [[ $names == *" tls"* || $names == *"-https "* ]]; then
    need_cmds openssl:openssl editcap:wireshark-common
  fi
  if [[ $names == *" impaired-flask-sock "* ]]; then
    need_cmds iptables:iptables ethtool:ethtool gcc:gcc
    [[ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ]] ||
      need_cmds no-such-cmd:libnetfilter-queue-dev
    impair=1
  fi
  mkdir -p "$CACHE" "$LOGS" "$WORK" "$CACHE/node"

  # One venv, rebuilt only when the pins change; the impairment extra is
  # added on top only when a capture needs it.
  if ! stamp_ok "$VENV" "$HERE/requirements.txt"; then
    log "creating venv in $VENV"
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$PY" -m pip install -q -r "$HERE/requirements.txt"
    write_stamp "$VENV" "$HERE/requirements.txt"
  fi
  if [[ -n $impair ]] && ! stamp_ok "$VENV/impair" "$HERE/requirements-impair.txt"; then
    log "adding requirements-impair.txt to $VENV"
    "$PY" -m pip install -q -r "$HERE/requirements-impair.txt"
    mkdir -p "$VENV/impair"
    write_stamp "$VENV/impair" "$HERE/requirements-impair.txt"
  fi

  # node_modules from the lockfile, exactly (npm ci), outside the repo.
  if ! stamp_ok "$CACHE/node" "$HERE/package.json" "$HERE/package-lock.json"; then
    log "npm ci in $CACHE/node"
    cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/node/"
    (cd "$CACHE/node" && npm ci --no-audit --no-fund --loglevel=error)
    write_stamp "$CACHE/node" "$HERE/package.json" "$HERE/package-lock.json"
  fi
}

# ----------------------------------------------------------------- checks --
verify() {  # FILE: fail unless the capture is small, complete and dissects
  local file=$1 size streams incomplete frames
  size=$(stat -c %s "$file")
  ((size < 1000000)) || die "$NAME: $file is $size bytes (limit 1 MB)"
  # Every TCP connection must be whole: a SYN at the start, and at the end
  # a FIN from each side or a RST from either.
  streams=$(tshark -r "$file" -T fields -e tcp.stream -e ip.src -e ipv6.src \
              -e tcp.srcport -e tcp.flags.syn -e tcp.flags.fin -e tcp.flags.reset 2>/dev/null |
    awk -F'\t' '
      function on(v) { return v == 1 || v == "True" }
      { s = $1; side = $2 $3 ":" $4
        if (!(s in seen)) { seen[s] = 1; n++ }
        sides[s, side] = 1
        if (on($5)) syn[s] = 1
        if (on($6)) fin[s, side] = 1
        if (on($7)) rst[s] = 1 }
      END { bad = 0
        for (s in seen) if (!syn[s]) bad++
        for (k in sides) { split(k, p, SUBSEP); if (!rst[p[1]] && !fin[k]) bad++ }
        print n, bad }')
  incomplete=${streams#* }
  ((incomplete == 0)) || die "$NAME: $incomplete incomplete TCP connection end(s) in $file"
  # reassemble_out_of_order: without it Wireshark 4.0 mis-parses the
  # WebSocket stream of the impaired capture after the first reordering.
  local tls=()
  [[ $TLS_CAPTURES == *" $NAME "* ]] && tls=(-d "tcp.port==$PORT,tls")
  [[ -n ${KEYS:-} ]] && tls+=(-o "tls.keylog_file:$KEYS")
  frames=$(tshark -o tcp.reassemble_out_of_order:TRUE -r "$file" -d "tcp.port==$PORT,http" "${tls[@]}" \
             -Y websocket -T fields -e frame.number 2>/dev/null | wc -l)
  # A client facing a wrong Accept fails the connection: no frames follow.
  [[ $NAME == broken-accept || $NO_WS_CAPTURES == *" $NAME "* ]] || ((frames > 0)) || die "$NAME: no WebSocket frame dissects in $file"
  if [[ $NAME == impaired-* ]]; then
    local hits
    hits=$(tshark -r "$file" -Y 'tcp.analysis.retransmission || tcp.analysis.out_of_order' \
             2>/dev/null | wc -l)
    ((hits > 0)) || die "$NAME: no retransmission or out-of-order segment in $file"
  fi
  SUMMARY+=("$(printf '%-28s %8s bytes  %-12s %5s packets  %3s TCP conns  %4s ws frames' \
    "$(basename "$file")" "$size" \
    "$(capinfos -E "$file" | awk -F': *' '/encapsulation/ {print $2}')" \
    "$(capinfos -c -M "$file" | awk -F': *' '/Number of packets/ {print $2}')" \
    "${streams% *}" "$frames")")
}

# ------------------------------------------------------------------- main --
port_of() {
  local i
  for ((i = 0; i < ${#CAPTURES[@]}; i += 2)); do
    [[ ${CAPTURES[i]} == "$1" ]] && { echo "${CAPTURES[i + 1]}"; return 0; }
  done
  return 1
}

record_one() {  # NAME: record into $WORK, verify, move into captures/
  NAME=$1
  PORT=$(port_of "$NAME")
  local ext=pcap
  [[ $NAME == flask-socketio-ipv6 || $NAME == *-dsb ]] && ext=pcapng
  FILE=$WORK/$NAME.$ext
  KEYS=
  [[ $TLS_CAPTURES == *" $NAME "* ]] && KEYS=$WORK/$NAME.keys
  rm -f "$FILE" "$WORK/$NAME.sent.jsonl"
  log "recording $NAME (port $PORT)"
  "cap_$NAME"
  verify "$FILE"
  chmod 644 "$FILE"       # dumpcap creates its files 0600
  local dest=$OUT
  [[ $TEST_CAPTURES == *" $NAME "* ]] && dest=$OUT/../tests/trace && mkdir -p "$dest"
  mv -f "$FILE" "$dest/$NAME.$ext"
  if [[ -n $KEYS ]]; then chmod 644 "$KEYS"; mv -f "$KEYS" "$dest/$NAME.keys"; fi
  # What each side logged it sent, where a scenario writes that down.
  if [[ -f $WORK/$NAME.sent.jsonl ]]; then mv -f "$WORK/$NAME.sent.jsonl" "$dest/$NAME.sent.jsonl"; fi
  printf '%s\n' "${SUMMARY[@]}" >"$WORK/$NAME.summary"
}

SUMMARY=()

# Re-entry point: record one capture inside a fresh network namespace.
if [[ ${1:-} == --netns-child ]]; then
  ip link set lo up
  record_one "$2"
  exit 0
fi

if [[ ${1:-} == --list ]]; then
  for ((i = 0; i < ${#CAPTURES[@]}; i += 2)); do echo "${CAPTURES[i]}"; done
  exit 0
fi

selected=("$@")
if ((${#selected[@]} == 0)); then
  for ((i = 0; i < ${#CAPTURES[@]}; i += 2)); do selected+=("${CAPTURES[i]}"); done
fi
for n in "${selected[@]}"; do
  port_of "$n" >/dev/null || die "unknown capture '$n' (try --list)"
done

start=$SECONDS
setup "${selected[@]}"
for n in "${selected[@]}"; do
  if [[ $NETNS_CAPTURES == *" $n "* ]]; then
    # Same script, same cache, new network namespace; its own trap cleans up.
    spawn "$n.netns" unshare --net -- bash "$HERE/record.sh" --netns-child "$n"
    child=$LAST_PID
    wait "$child" || { cat "$LOGS/$n.netns.log" >&2; die "$n failed"; }
    grep -v '^\s*$' "$LOGS/$n.netns.log" >&2 || true
  else
    record_one "$n"
  fi
  cat "$WORK/$n.summary" >&2
  SUMMARY=()
done
log "done in $((SECONDS - start)) s; captures in $OUT, logs in $LOGS"
