"""A minimal, strict WebSocket client for the broken-* captures.

Usage: python raw_client.py HOST PORT

Raw sockets and the standard library only, so it gets through a broken
server's scenario instead of stopping at the first surprise, and records
exactly the bytes a correct client sends:
  - the opening handshake, with a fresh 16-byte key; if the server's
    Sec-WebSocket-Accept is wrong it fails the connection, as RFC 6455
    §4.1 requires (closes TCP without sending a frame);
  - one masked text message, "hello, dispel";
  - reads until the echo (answering a complete ping with a pong);
  - Close 1000 "done", then reads until the server's Close and the end of
    the TCP stream, and closes.
"""
import base64
import hashlib
import os
import socket
import struct
import sys

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


def log(*args):
    print('[client]', *args, flush=True)


def recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError('server closed')
        buf += chunk
    return buf


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack('!H', n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack('!Q', n)
    sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack('!H', recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack('!Q', recv_exact(sock, 8))[0]
    key = recv_exact(sock, 4) if b1 & 0x80 else b'\0\0\0\0'
    data = recv_exact(sock, n)
    return bool(b0 & 0x80), b0 & 0x0f, bytes(c ^ key[i % 4] for i, c in enumerate(data))


def main(host, port):
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16))
    sock.sendall(b'GET /ws HTTP/1.1\r\nHost: ' + f'{host}:{port}'.encode() +
                 b'\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Key: ' + key + b'\r\nSec-WebSocket-Version: 13\r\n\r\n')
    resp = b''
    while b'\r\n\r\n' not in resp:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit('server closed during the handshake')
        resp += chunk
    head, _, rest = resp.partition(b'\r\n\r\n')
    assert rest == b'', 'no frames expected before the client speaks'
    want = base64.b64encode(hashlib.sha1(key + GUID).digest())
    got = b''
    for line in head.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'sec-websocket-accept':
            got = value.strip()
    if got != want:
        log('Sec-WebSocket-Accept is wrong:', got, 'expected', want, '- failing the connection')
        sock.close()
        return
    send_frame(sock, 0x1, b'hello, dispel')
    while True:
        fin, op, data = read_frame(sock)
        log('frame', op, fin, data)
        if op == 0x9 and fin:
            send_frame(sock, 0xA, data)
        elif op == 0x1:
            break
    send_frame(sock, 0x8, struct.pack('!H', 1000) + b'done')
    try:
        while True:
            fin, op, data = read_frame(sock)
            log('frame', op, fin, data)
            if op == 0x8:
                break
        # The server closes TCP first; wait for its FIN.
        while sock.recv(4096):
            pass
    except EOFError:
        pass
    sock.close()
    log('closed')


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]))
