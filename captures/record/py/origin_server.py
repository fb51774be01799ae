"""Flask-SocketIO server (gevent) for the ending-origin-refused capture.

Usage: python origin_server.py HOST PORT

cors_allowed_origins names the one page origin allowed; python-engineio
refuses a handshake whose Origin header is another.
"""
import sys

from gevent import monkey

monkey.patch_all()

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO  # noqa: E402

HOST, PORT = sys.argv[1], int(sys.argv[2])
app = Flask(__name__)
socketio = SocketIO(app, async_mode='gevent', ping_interval=1, ping_timeout=1,
                    cors_allowed_origins=['http://app.example'])


@socketio.on('connect')
def on_connect(auth):
    print('[server] connect', flush=True)


if __name__ == '__main__':
    print('[server] listening on', PORT, flush=True)
    socketio.run(app, host=HOST, port=PORT)
