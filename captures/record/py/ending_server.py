"""Flask-SocketIO server (gevent) for the ending-py-* captures: the
python-socketio side of the sessions js/ending_client.js ends.

Usage: python ending_server.py HOST PORT

ping_interval and ping_timeout are 1 s (defaults 25 s and 20 s) so a ping
timeout happens within seconds. Events, as js/ending_server.js: "hello"
(answered by an ack) and "kick" (the server disconnects the client).
"""
import sys

from gevent import monkey

monkey.patch_all()

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, disconnect  # noqa: E402

HOST, PORT = sys.argv[1], int(sys.argv[2])
app = Flask(__name__)
socketio = SocketIO(app, async_mode='gevent', ping_interval=1, ping_timeout=1)


def log(*args):
    print('[server]', *args, flush=True)


@socketio.on('connect')
def on_connect(auth):
    log('connect', request.sid)


@socketio.on('hello')
def on_hello(text):
    return 'hello back: %s' % text


@socketio.on('kick')
def on_kick():
    log('disconnecting', request.sid)
    disconnect()


@socketio.on('disconnect')
def on_disconnect(reason=None):
    log('disconnect', request.sid, reason)


if __name__ == '__main__':
    log('listening on', PORT)
    socketio.run(app, host=HOST, port=PORT)
