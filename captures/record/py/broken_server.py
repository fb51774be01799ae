"""A deliberately broken WebSocket server, for dispel's broken-* captures.

Usage: python broken_server.py BUG HOST PORT

Raw sockets and the standard library only, so each bug is exactly one
visible change from a correct RFC 6455 server. It answers the opening
handshake, echoes each text message and answers a Close with a Close, then
closes the TCP connection first (RFC 6455 §7.1.1). BUG is one of:

  accept            Sec-WebSocket-Accept is base64(SHA-1(key)) without the
                    GUID (RFC 6455 §4.2.2): the client must fail the connection.
  server-masked     the echo is masked, as only clients may do (§5.1).
  length-not-minimal the echo's length uses the 16-bit form for a short
                    payload (§5.2: the minimal number of bytes MUST be used).
  close-code        the server's Close carries 1005, a code that must never
                    be sent on the wire (§7.4.1).
  fragmented-ping   after the echo, a ping split over two frames (FIN=0, then a
                    continuation): control frames MUST NOT be fragmented (§5.5).
  invalid-utf8      the echo, a text message, ends with the bytes ff fe, which
                    are not UTF-8 (§8.1).
"""
import base64
import hashlib
import os
import socket
import struct
import sys

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
BUGS = ('accept', 'server-masked', 'length-not-minimal', 'close-code',
        'fragmented-ping', 'invalid-utf8')


def log(*args):
    print('[server]', *args, flush=True)


def recv_exact(conn, n):
    buf = b''
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError('peer closed')
        buf += chunk
    return buf


def read_frame(conn):
    """Returns (fin, opcode, payload) of one client frame, unmasked."""
    b0, b1 = recv_exact(conn, 2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack('!H', recv_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack('!Q', recv_exact(conn, 8))[0]
    key = recv_exact(conn, 4) if b1 & 0x80 else b'\0\0\0\0'
    data = recv_exact(conn, n)
    return bool(b0 & 0x80), b0 & 0x0f, bytes(c ^ key[i % 4] for i, c in enumerate(data))


def frame(opcode, payload, fin=True, mask=None, length_form=None):
    """Encodes a frame; length_form forces '16' or '64' instead of minimal."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if length_form == '16' or (length_form is None and 126 <= n < 65536):
        head += bytes([mbit | 126]) + struct.pack('!H', n)
    elif length_form == '64' or (length_form is None and n >= 65536):
        head += bytes([mbit | 127]) + struct.pack('!Q', n)
    else:
        head += bytes([mbit | n])
    if mask:
        head += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + payload


def handshake(conn, bug):
    req = b''
    while b'\r\n\r\n' not in req:
        chunk = conn.recv(4096)
        if not chunk:
            raise EOFError('no request')
        req += chunk
    key = b''
    for line in req.split(b'\r\n')[1:]:
        name, _, value = line.partition(b':')
        if name.strip().lower() == b'sec-websocket-key':
            key = value.strip()
    digest = hashlib.sha1(key if bug == 'accept' else key + GUID).digest()
    accept = base64.b64encode(digest)
    conn.sendall(b'HTTP/1.1 101 Switching Protocols\r\n'
                 b'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Accept: ' + accept + b'\r\n\r\n')
    log('101 sent, accept', accept.decode())


def serve(conn, bug):
    handshake(conn, bug)
    while True:
        try:
            fin, op, data = read_frame(conn)
        except EOFError:
            log('client closed the TCP connection')
            return
        if op == 0x1:
            log('text', data)
            if bug == 'server-masked':
                out = frame(0x1, data, mask=os.urandom(4))
            elif bug == 'length-not-minimal':
                out = frame(0x1, data, length_form='16')
            elif bug == 'invalid-utf8':
                out = frame(0x1, data + b' \xff\xfe')
            else:
                out = frame(0x1, data)
            conn.sendall(out)
            if bug == 'fragmented-ping':
                conn.sendall(frame(0x9, b'are you ', fin=False))
                conn.sendall(frame(0x0, b'there?'))
        elif op == 0x9:
            conn.sendall(frame(0xA, data))
        elif op == 0x8:
            log('close', data[:2].hex(), data[2:])
            code = 1005 if bug == 'close-code' else 1000
            conn.sendall(frame(0x8, struct.pack('!H', code) + b'bye'))
            return


def main(bug, host, port):
    if bug not in BUGS:
        sys.exit(f'unknown bug {bug!r}; one of {", ".join(BUGS)}')
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    log(f'bug {bug}: listening on {host}:{port}')
    while True:
        conn, peer = srv.accept()
        log('connection from', peer)
        try:
            serve(conn, bug)
        except (EOFError, OSError) as e:
            log('connection ended:', e)
        finally:
            # The server closes the TCP connection first (RFC 6455 §7.1.1).
            conn.close()


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
