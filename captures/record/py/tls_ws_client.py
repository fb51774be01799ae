"""`websockets` (asyncio) client over TLS that logs its secrets, for the
tls-* captures.

Usage: python tls_ws_client.py URL CAFILE KEYLOG [--tls12 CIPHERS]

SSLContext.keylog_filename makes OpenSSL append the NSS key log lines
(CLIENT_RANDOM for TLS 1.2; the *_TRAFFIC_SECRET lines for TLS 1.3) to
KEYLOG, which record.sh saves beside the capture. --tls12 caps the
version at TLS 1.2 and restricts the cipher list (OpenSSL names, e.g.
ECDHE-RSA-AES128-GCM-SHA256). TLS 1.3 suites come from OPENSSL_CONF.

Scenario: text; binary; 200 bytes; 70000 bytes (several TLS records);
a ping with payload; close 1000. The SNI is "localhost".
"""
import asyncio
import ssl
import sys

import websockets


def log(*args):
    print('[client]', *args, flush=True)


async def roundtrip(ws, message, label):
    await ws.send(message)
    echo = await ws.recv()
    assert echo == message, label
    log(label, 'ok', len(echo))


async def main(url, cafile, keylog, tls12):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.keylog_filename = keylog
    if tls12 is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(tls12)
    async with websockets.connect(url, ssl=ctx, server_hostname='localhost',
                                  compression=None, ping_interval=None,
                                  proxy=None, max_size=None) as ws:
        log('tls', ws.transport.get_extra_info('ssl_object').version(),
            ws.transport.get_extra_info('cipher'))
        await roundtrip(ws, 'hello over TLS', 'text')
        await roundtrip(ws, bytes(range(16)), 'binary')
        await roundtrip(ws, 'x' * 200, '200 bytes')
        await roundtrip(ws, ''.join(chr(0x61 + i % 26) for i in range(70000)),
                        '70000 bytes')
        pong = await ws.ping(b'dispel-ping')
        await pong
        log('ping/pong ok')
        await ws.close(code=1000, reason='done, goodbye')
        log('closed', ws.close_code)


if __name__ == '__main__':
    args = sys.argv[1:]
    tls12 = None
    if '--tls12' in args:
        i = args.index('--tls12')
        tls12 = args[i + 1]
        del args[i:i + 2]
    asyncio.run(main(args[0], args[1], args[2], tls12))
