"""dispel's call tracer: runs a server app under a profiler restricted to a
stack's packages and logs, as JSON lines, every call and return of their
functions together with the server's socket I/O.

Usage (dispel runs this; see lessons/README.md, "Verifying a course"):

    python tracer.py --log FILE --mode {gevent,eventlet,threading}
                     --package NAME ... -- APP.py ARGS...

Each line of FILE is one event, in the order they happened:

    {"ev":"pkg","pkg":NAME,"version":V,"root":DIR}        (at start)
    {"ev":"call","t":T,"g":G,"pkg":P,"file":F,"line":L,"def":D,"fn":Q,
     "conn":C,"rd":R,"wr":W}
    {"ev":"ret","t":T,"g":G}
    {"ev":"io","t":T,"g":G,"conn":C,"dir":"c2s"|"s2c","off":O,"n":N}
    {"ev":"close","t":T,"g":G,"conn":C}      the server closes or shuts down C
    {"ev":"eof","t":T,"g":G,"conn":C}        a read on C returned no bytes
    {"ev":"accept","t":T,"g":G,"conn":C}     the server accepted C
    {"ev":"put","t":T,"g":G,"obj":ID}   {"ev":"get","t":T,"g":G,"obj":ID}
    {"ev":"set","t":T,"g":G,"obj":ID}   {"ev":"wake","t":T,"g":G,"obj":ID}
    {"ev":"spawn","t":T,"g":G,"key":K}  {"ev":"start","t":T,"g":G,"key":K}

G numbers a greenlet (or a thread: each thread has its own main greenlet),
C is the client's port of the connection, O the stream offset of the first
byte read (c2s) or written (s2c), R/W the bytes read/written so far on C by
G's latest connection. F is the path inside the package (as lessons cite
it), L the line of the `def`, Q the function's qualified name.

How work handed between greenlets/threads is linked (best effort):
- spawn/start: python-engineio's and python-socketio's
  start_background_task(target) logs "spawn" with a key; the first call of
  `target` on a new greenlet/thread logs "start" with the same key.
- put/get: the item's id() when a queue's put() is called and when get()
  returns it (queue.Queue, eventlet's queues, and gevent's queues, which
  are compiled, through a traced Python subclass installed before the app
  imports them). The getter goes on with what the putter was doing, and
  the putter's call ran for what the getter writes next.
- set/wake: an event's id() when set() is called and when wait() returns
  true: the woken greenlet/thread goes on with what the setter was doing.
"""
import argparse
import json
import linecache
import os
import re
import sys
import time
import weakref

ap = argparse.ArgumentParser()
ap.add_argument('--log', required=True)
ap.add_argument('--mode', choices=['gevent', 'eventlet', 'threading'], required=True)
ap.add_argument('--package', action='append', default=[])
ap.add_argument('app', nargs=argparse.REMAINDER)
opts = ap.parse_args()
app = opts.app[1:] if opts.app[:1] == ['--'] else opts.app

# Patch first, exactly as the app will (patching again is a no-op), so the
# socket and queue classes wrapped below are the ones the server uses.
if opts.mode == 'gevent':
    from gevent import monkey
    monkey.patch_all()
elif opts.mode == 'eventlet':
    import eventlet
    eventlet.monkey_patch()

import socket  # noqa: E402
import threading as threading_mod  # noqa: E402
import queue as std_queue  # noqa: E402
from importlib import metadata  # noqa: E402

import greenlet  # noqa: E402

LOG = open(opts.log, 'w', buffering=1)  # one write per line: a killed run keeps its log
T0 = time.monotonic()


def emit(rec):
    rec['t'] = round(time.monotonic() - T0, 6)
    LOG.write(json.dumps(rec, separators=(',', ':')) + '\n')


# --- which files belong to the stack ------------------------------------------
ROOTS = []  # (absolute directory with trailing sep, package name, version, site root)
for name in opts.package:
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        emit({'ev': 'error', 'msg': 'package %s is not installed' % name})
        continue
    site = str(dist.locate_file(''))
    tops = set()
    for f in dist.files or []:
        parts = f.parts
        if len(parts) > 1 and parts[-1].endswith('.py') and not parts[0].endswith(('.dist-info', '.data')):
            tops.add(parts[0])
        elif len(parts) == 1 and parts[0].endswith('.py'):
            tops.add(parts[0])
    for top in sorted(tops):
        path = os.path.join(site, top)
        ROOTS.append((path + (os.sep if not top.endswith('.py') else ''), name, dist.version, site))
    emit({'ev': 'pkg', 'pkg': name, 'version': dist.version, 'tops': sorted(tops)})

DEF_RE = {}
CODE_INFO = {}  # code object -> None (not traced) or (pkg, file, def line, qualname)


def code_info(code):
    info = CODE_INFO.get(code, False)
    if info is not False:
        return info
    info = None
    fname = code.co_filename
    for root, pkg, _version, site in ROOTS:
        if fname == root or fname.startswith(root):
            rel = os.path.relpath(fname, site).replace(os.sep, '/')
            name = code.co_name
            line = code.co_firstlineno
            # A decorated function starts at its first decorator: find the def.
            pat = re.compile(r'\s*(async\s+)?(def|class)\s+' + re.escape(name) + r'\b')
            for i in range(line, line + 12):
                if pat.match(linecache.getline(fname, i)):
                    line = i
                    break
            qual = getattr(code, 'co_qualname', name).replace('<locals>.', '')
            info = (pkg, rel, line, qual)
            break
    CODE_INFO[code] = info
    return info


# --- greenlets / threads --------------------------------------------------------
GIDS = {}
getcurrent = greenlet.getcurrent


def gid():
    g = getcurrent()
    n = GIDS.get(g)
    if n is None:
        n = GIDS[g] = len(GIDS) + 1
    return n


CUR = {}  # gid -> (conn, read, written) of its latest connection
RD = {}
WR = {}
IN_IO = set()


PEERS = weakref.WeakKeyDictionary()
ACCEPTED = set()
QUIET = set()  # gids inside the tracer's own calls into the server's libraries


def conn_of(sock):
    try:
        c = PEERS.get(sock)
    except TypeError:
        c = None
    if c is None:
        g = gid()
        QUIET.add(g)
        try:
            c = sock.getpeername()[1]
            try:
                PEERS[sock] = c
            except TypeError:
                pass
        except Exception:
            c = None
        finally:
            QUIET.discard(g)
    return c




def wrap_io(cls):
    def make(name, direction, counted):
        orig = getattr(cls, name, None)
        if orig is None:
            return

        def wrapper(self, *a, **kw):
            g = gid()
            if g in IN_IO:
                return orig(self, *a, **kw)
            IN_IO.add(g)
            try:
                r = orig(self, *a, **kw)
            finally:
                IN_IO.discard(g)
            n = counted(r, a)
            c = conn_of(self)
            if c is not None and not n and direction == 'c2s' and r is not None:
                emit({'ev': 'eof', 'g': g, 'conn': c})
            if c is not None and n:
                table = RD if direction == 'c2s' else WR
                off = table.get(c, 0)
                table[c] = off + n
                CUR[g] = c
                emit({'ev': 'io', 'g': g, 'conn': c, 'dir': direction, 'off': off, 'n': n})
            return r
        wrapper.__name__ = name
        setattr(cls, name, wrapper)

    make('recv', 'c2s', lambda r, a: len(r) if r else 0)
    make('recv_into', 'c2s', lambda r, a: r or 0)
    make('send', 's2c', lambda r, a: r or 0)
    make('sendall', 's2c', lambda r, a: memoryview(a[0]).nbytes if a else 0)

    for name in ('accept', '_accept'):
        orig_accept = getattr(cls, name, None)
        if orig_accept is None:
            continue

        def accept(self, *a, _orig=orig_accept, **kw):
            r = _orig(self, *a, **kw)
            try:
                port = r[1][1]
                if port not in ACCEPTED:
                    ACCEPTED.add(port)
                    emit({'ev': 'accept', 'g': gid(), 'conn': port})
            except Exception:
                pass
            return r
        setattr(cls, name, accept)

    for name in ('close', 'shutdown'):
        orig = getattr(cls, name, None)
        if orig is None:
            continue

        def closer(self, *a, _orig=orig, **kw):
            c = conn_of(self)
            if c is not None:
                emit({'ev': 'close', 'g': gid(), 'conn': c})
            return _orig(self, *a, **kw)
        setattr(cls, name, closer)


wrap_io(socket.socket)

if opts.mode == 'eventlet':
    # eventlet's GreenSocket hands shutdown() to the real socket through
    # __getattr__ and binds close to the real socket's in __init__: neither
    # goes through the class, so both are wrapped here.
    from eventlet.greenio import base as _greenio

    def _log_close(sock):
        c = conn_of(sock)
        if c is not None:
            emit({'ev': 'close', 'g': gid(), 'conn': c})

    def _shutdown(self, *a):
        _log_close(self)
        return self.fd.shutdown(*a)
    _greenio.GreenSocket.shutdown = _shutdown
    _orig_green_init = _greenio.GreenSocket.__init__

    def _green_init(self, *a, **kw):
        _orig_green_init(self, *a, **kw)
        fd_close = self.close

        def close(*a2, **kw2):
            _log_close(self)
            return fd_close(*a2, **kw2)
        self.close = close
    _greenio.GreenSocket.__init__ = _green_init

# --- queues ---------------------------------------------------------------------
PUT_CODES = set()
GET_CODES = set()
if opts.mode == 'gevent':
    import gevent.queue as gq

    def traced(base):
        class Traced(base):
            def put(self, item, *a, **kw):
                return base.put(self, item, *a, **kw)

            def get(self, *a, **kw):
                return base.get(self, *a, **kw)
        Traced.__name__ = base.__name__
        PUT_CODES.add(Traced.put.__code__)
        GET_CODES.add(Traced.get.__code__)
        return Traced
    gq.Queue = traced(gq.Queue)
    gq.JoinableQueue = traced(gq.JoinableQueue)
else:
    classes = [std_queue.Queue]
    if opts.mode == 'eventlet':
        import eventlet.queue as eq
        classes += [eq.LightQueue, eq.Queue]
    for cls in classes:
        for name, codes in (('put', PUT_CODES), ('get', GET_CODES)):
            fn = getattr(cls, name, None)
            if getattr(fn, '__code__', None) is not None:
                codes.add(fn.__code__)

# Events (threading.Event, eventlet's): set() is logged as "set" and a
# wait() that returns true as "wake", so a thread woken by another
# (simple-websocket's reader thread waking the WSGI thread) is linked to
# what the setter was doing.
SET_CODES = set()
WAIT_CODES = set()
_event_classes = [threading_mod.Event]
if opts.mode == 'eventlet':
    import eventlet.event as ee
    _event_classes.append(ee.Event)
for _cls in _event_classes:
    for _name, _codes in (('set', SET_CODES), ('send', SET_CODES), ('wait', WAIT_CODES)):
        _fn = getattr(_cls, _name, None)
        if getattr(_fn, '__code__', None) is not None:
            _codes.add(_fn.__code__)

SPAWNED = {}  # target code -> [keys] waiting for their first call
SPAWN_KEYS = [0]


def target_code(t):
    t = getattr(t, '__func__', t)
    return getattr(t, '__code__', None)


# --- the profiler ---------------------------------------------------------------
STACKS = {}  # gid -> list of bools: was the frame logged (so its return is)


def profile(frame, event, arg):
    if event == 'call':
        code = frame.f_code
        g = gid()
        if g in QUIET:
            STACKS.setdefault(g, []).append(False)
            return
        if code in PUT_CODES:
            item = frame.f_locals.get('item')
            emit({'ev': 'put', 'g': g, 'obj': id(item)})
        elif code in SET_CODES:
            emit({'ev': 'set', 'g': g, 'obj': id(frame.f_locals.get('self'))})
        if SPAWNED and code in SPAWNED:
            keys = SPAWNED[code]
            key = keys.pop(0)[0]
            if not keys:
                del SPAWNED[code]
            emit({'ev': 'start', 'g': g, 'key': key})
        info = code_info(code)
        stack = STACKS.setdefault(g, [])
        if info is None:
            stack.append(False)
            return
        if code.co_name == 'start_background_task':
            tc = target_code(frame.f_locals.get('target'))
            pending = SPAWNED.get(tc)
            # python-socketio's start_background_task calls python-engineio's
            # with the same target: one spawn, logged once.
            if tc is not None and not (pending and pending[-1][1] == g):
                SPAWN_KEYS[0] += 1
                SPAWNED.setdefault(tc, []).append((SPAWN_KEYS[0], g))
                emit({'ev': 'spawn', 'g': g, 'key': SPAWN_KEYS[0]})
        stack.append(True)
        c = CUR.get(g)
        emit({'ev': 'call', 'g': g, 'pkg': info[0], 'file': info[1], 'line': info[2],
              'def': code.co_firstlineno, 'fn': info[3], 'conn': c,
              'rd': RD.get(c, 0), 'wr': WR.get(c, 0)})
    elif event == 'return':
        g = gid()
        if frame.f_code in GET_CODES and arg is not None:
            emit({'ev': 'get', 'g': g, 'obj': id(arg)})
        elif frame.f_code in WAIT_CODES and arg:
            emit({'ev': 'wake', 'g': g, 'obj': id(frame.f_locals.get('self'))})
        stack = STACKS.get(g)
        if stack and stack.pop():
            # gevent's StreamServer accepts on the raw _socket (not wrapped):
            # its do_read() returns (socket, address).
            if (type(arg) is tuple and len(arg) == 2 and hasattr(arg[0], 'recv')
                    and type(arg[1]) is tuple and len(arg[1]) >= 2
                    and type(arg[1][1]) is int and arg[1][1] not in ACCEPTED):
                ACCEPTED.add(arg[1][1])
                emit({'ev': 'accept', 'g': g, 'conn': arg[1][1]})
            emit({'ev': 'ret', 'g': g})


import signal  # noqa: E402
import threading  # noqa: E402


def stop(*_):
    try:
        LOG.flush()
    finally:
        os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

sys.argv = app
sys.path.insert(0, os.path.dirname(os.path.abspath(app[0])))
threading.setprofile(profile)
sys.setprofile(profile)
import runpy  # noqa: E402
runpy.run_path(app[0], run_name='__main__')
