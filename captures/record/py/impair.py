"""A tiny netem stand-in: drops, delays and reorders real TCP segments.

Usage (as root, inside a private network namespace):
    iptables -A OUTPUT -o lo -p tcp --sport PORT -j NFQUEUE --queue-num 0
    iptables -A OUTPUT -o lo -p tcp --dport PORT -j NFQUEUE --queue-num 0
    python impair.py [--seed N]

Why: the kernel here is built without sch_netem, so
`tc qdisc add dev lo root netem ...` fails ("Specified qdisc kind is
unknown"). NFQUEUE hands each outgoing segment to this process, which
decides its fate the way `netem delay 20ms 10ms reorder 25% loss 5%` would:
  - 5 % are dropped: TCP has to retransmit them;
  - 25 % are released at once, jumping ahead of delayed ones;
  - the rest wait 10-30 ms (20 ms +/- 10 ms jitter), so they can also
    overtake each other.
Packets are captured on lo after this hook, so the capture shows the
receiver's view: gaps, out-of-order arrivals and retransmissions.

Single-threaded: select() on the queue's netlink socket with a timeout that
ends when the next held packet is due.
"""
import argparse
import heapq
import itertools
import random
import select
import signal
import socket
import sys
import time

from netfilterqueue import NetfilterQueue

LOSS = 0.05
REORDER = 0.25
DELAY, JITTER = 0.020, 0.010

parser = argparse.ArgumentParser()
parser.add_argument('--queue', type=int, default=0)
parser.add_argument('--seed', type=int, default=6455)
args = parser.parse_args()
rng = random.Random(args.seed)

held = []                 # heap of (release_time, tie_breaker, packet)
tie = itertools.count()
stats = {'seen': 0, 'dropped': 0, 'immediate': 0, 'delayed': 0}


def on_packet(pkt):
    stats['seen'] += 1
    roll = rng.random()
    if roll < LOSS:
        stats['dropped'] += 1
        pkt.drop()
    elif roll < LOSS + REORDER:
        stats['immediate'] += 1
        pkt.accept()
    else:
        stats['delayed'] += 1
        due = time.monotonic() + rng.uniform(DELAY - JITTER, DELAY + JITTER)
        heapq.heappush(held, (due, next(tie), pkt))


def release_due():
    now = time.monotonic()
    while held and held[0][0] <= now:
        heapq.heappop(held)[2].accept()


def stop(*_):
    raise KeyboardInterrupt


nfq = NetfilterQueue()
nfq.bind(args.queue, on_packet, max_len=4096)
sock = socket.fromfd(nfq.get_fd(), socket.AF_NETLINK, socket.SOCK_RAW)
signal.signal(signal.SIGTERM, stop)
print('[impair] queue', args.queue, 'seed', args.seed, 'ready', flush=True)
try:
    while True:
        timeout = max(0.0, held[0][0] - time.monotonic()) if held else 0.5
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            nfq.run(block=False)
        release_due()
except KeyboardInterrupt:
    pass
finally:
    # Never leave packets stuck in the kernel queue.
    for _, _, pkt in held:
        pkt.accept()
    nfq.unbind()
    print('[impair]', stats, flush=True)
    sys.exit(0)
