"""A raw Engine.IO WebSocket client that sends invalid UTF-8, for the
eventlet-invalid-utf8 capture (what eventlet answers to it).

Usage: python bad_utf8_client.py HOST PORT

Standard library only, so the text frame can carry bytes no WebSocket
library would send:
  - opens Engine.IO v4 directly on WebSocket (/socket.io/?EIO=4&transport=
    websocket), with a fresh 16-byte key, and reads the OPEN packet;
  - sends one masked text frame whose payload is "4" followed by the bytes
    ff fe (an Engine.IO message that is not UTF-8);
  - reads until the server's Close, logs its status code, answers with a
    Close of the same code, and reads until the end of the TCP stream.
"""
import base64
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from raw_client import log, read_frame, send_frame  # noqa: E402


def main(host, port):
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ' +
                 f'{host}:{port}'.encode() +
                 b'\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: 13\r\n\r\n')
    resp = b''
    while b'\r\n\r\n' not in resp:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit('server closed during the handshake')
        resp += chunk
    head, _, rest = resp.partition(b'\r\n\r\n')
    if not head.startswith(b'HTTP/1.1 101'):
        sys.exit('no 101: %r' % head[:80])
    # The OPEN packet may have arrived with the 101.
    if not rest:
        fin, op, data = read_frame(sock)
        log('frame', op, fin, data)
    send_frame(sock, 0x1, b'4\xff\xfe')
    code = None
    try:
        while True:
            fin, op, data = read_frame(sock)
            log('frame', op, fin, data)
            if op == 0x8:
                code = struct.unpack('!H', data[:2])[0] if len(data) >= 2 else None
                log('close code', code, 'reason', data[2:])
                break
        send_frame(sock, 0x8, struct.pack('!H', code) if code else b'')
        while sock.recv(4096):
            pass
    except (EOFError, ConnectionResetError):
        pass
    sock.close()
    if code is None:
        sys.exit('the server sent no Close')
    log('closed')


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
