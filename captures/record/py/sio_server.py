"""Flask-SocketIO server used by the flask-socketio-* and browser captures.

Usage: python sio_server.py {gevent|eventlet|threading} HOST PORT [CERT KEY]

CERT KEY: serve HTTPS (flask-socketio-https), with a throwaway certificate
record.sh makes; socketio.run() hands them to the server (gevent's
WSGIServer certfile/keyfile).

The async mode decides the whole server stack underneath the same app:
  gevent    -> gevent.pywsgi + gevent-websocket's WebSocketHandler (course stack)
  eventlet  -> eventlet.wsgi + eventlet.websocket
  threading -> Werkzeug dev server + simple-websocket (wsproto)
We start it with socketio.run(), exactly as the course's apps do, so the
library picks the server itself; nothing is configured by hand.

The browser capture also needs GET / (a page) and GET /socket.io.min.js
(the official JS client, path given in $SIO_CLIENT_JS, served from
node_modules: no CDN, no network).
"""
import sys

MODE, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])

# Monkey patching must happen before anything else imports socket/threading,
# which is why the mode is read from argv before the Flask imports.
if MODE == 'eventlet':
    import eventlet
    eventlet.monkey_patch()
elif MODE == 'gevent':
    from gevent import monkey
    monkey.patch_all()

import os  # noqa: E402

from flask import Flask, Response, request, send_file  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402

app = Flask(__name__)
# A 1 s ping interval (default 25 s) lets a short run show the Engine.IO v4
# heartbeat: server sends "2", client answers "3".
socketio = SocketIO(app, async_mode=MODE, ping_interval=1, ping_timeout=5)


def log(*args):
    # The recorder reads this log (e.g. for the browser's "done" marker).
    print('[server]', *args, flush=True)


@socketio.on('connect')
def on_connect(auth):
    log('connect', request.sid, 'auth=%r' % (auth,))


@socketio.on('chat')
def on_chat(text):
    log('chat', repr(text))
    # A plain server->client EVENT in reply.
    emit('chat', {'from': 'server', 'echo': text})


@socketio.on('ack-me')
def on_ack_me(data):
    # Returning a value turns into an ACK packet ("43<id>[...]") because the
    # client passed a callback.
    log('ack-me', repr(data))
    return {'ok': True, 'doubled': data.get('n', 0) * 2}


@socketio.on('join')
def on_join(room):
    join_room(room)
    log('join', room)
    # Broadcast to everyone in the room (here only this client) — on the wire
    # it is an ordinary EVENT; the room exists only on the server.
    emit('room-news', {'room': room, 'text': 'someone joined ' + room},
         to=room)


@socketio.on('upload')
def on_upload(blob):
    # bytes arrive as a BINARY_EVENT ("451-[...placeholder...]" + 1 binary
    # frame). Echo them back so the server->client binary path shows too.
    log('upload', len(blob), 'bytes')
    emit('upload-echo', {'size': len(blob), 'data': blob})


@socketio.on('done')
def on_done():
    # Sent by the browser page once it has its reply; record.sh waits for it.
    log('BROWSER-DONE')


@socketio.on('disconnect')
def on_disconnect(*reason):
    log('disconnect', request.sid, *reason)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>dispel capture</title>
<link rel="icon" href="data:,">
<script src="/socket.io.min.js"></script></head>
<body><pre id="log"></pre>
<script>
  // Default options: long-polling first, then upgrade to WebSocket.
  const out = (s) => { document.getElementById('log').textContent += s + "\\n"; };
  const socket = io();
  socket.on('connect', () => {
    out('connected ' + socket.id);
    // Wait for the upgrade so the event travels on the WebSocket.
    const send = () => socket.emit('chat', 'hello from the browser');
    if (socket.io.engine.transport.name === 'websocket') send();
    else socket.io.engine.once('upgrade', send);
  });
  socket.on('chat', (msg) => { out('reply ' + JSON.stringify(msg)); socket.emit('done'); });
</script></body></html>
"""


@app.route('/')
def index():
    return Response(PAGE, mimetype='text/html')


@app.route('/socket.io.min.js')
def client_js():
    return send_file(os.environ['SIO_CLIENT_JS'],
                     mimetype='application/javascript')


if __name__ == '__main__':
    log('mode', MODE, 'listening on', HOST, PORT)
    # allow_unsafe_werkzeug only matters for threading mode (no TTY here).
    tls = {'certfile': sys.argv[4], 'keyfile': sys.argv[5]} if len(sys.argv) > 5 else {}
    socketio.run(app, host=HOST, port=PORT, allow_unsafe_werkzeug=True, **tls)
