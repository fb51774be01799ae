"""`websockets` (asyncio) echo server over TLS, for the tls-* captures.

Usage: python tls_ws_server.py HOST PORT CERT KEY

The certificate is a throwaway self-signed one that record.sh generates at
record time; nothing secret is kept. The server echoes every message.
"""
import asyncio
import ssl
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main(host, port, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    async with websockets.serve(echo, host, port, ssl=ctx, compression=None,
                                ping_interval=None, max_size=None):
        print('[server] listening', host, port, flush=True)
        await asyncio.Future()


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
