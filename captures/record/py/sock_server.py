"""flask-sock echo server for the flask-sock-echo and impaired-* captures.

Usage: python sock_server.py HOST PORT

Served by Werkzeug's threaded dev server. flask-sock hands the socket to
simple-websocket's Server, which does the handshake and framing with wsproto.
Every message received is sent straight back (text stays text, bytes stay
bytes); simple-websocket reassembles fragmented messages before we see them,
so the echo of a fragmented message is a single frame.
"""
import sys

from flask import Flask
from flask_sock import Sock

HOST, PORT = sys.argv[1], int(sys.argv[2])

app = Flask(__name__)
sock = Sock(app)


@sock.route('/echo')
def echo(ws):
    # receive() raises ConnectionClosed when the client closes; flask-sock
    # catches it and finishes the close handshake.
    while True:
        ws.send(ws.receive())


if __name__ == '__main__':
    print('[server] flask-sock echo on', HOST, PORT, flush=True)
    app.run(host=HOST, port=PORT, threaded=True)
