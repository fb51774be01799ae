"""`websockets` (asyncio) client for the flask-sock echo captures.

Usage: python ws_client.py URL [--bulk N SIZE]

Default scenario (flask-sock-echo), one message at a time, each echoed:
  text; binary; 200 bytes (16-bit extended length); 70000 bytes (64-bit
  extended length); a message sent as 3 fragments (text frame FIN=0, then
  continuation frames); a ping with payload (the server pongs); close 1000.
--bulk N SIZE (impaired-* capture): N binary messages of SIZE bytes, so a
lossy link has many segments to drop and reorder.

compression=None: no permessage-deflate offer, so every frame is plain.
ping_interval=None: no automatic keepalive pings, only the one we send.
proxy=None: never route loopback traffic through an environment proxy.
"""
import asyncio
import sys

import websockets


def log(*args):
    print('[client]', *args, flush=True)


async def roundtrip(ws, message, label):
    await ws.send(message)
    echo = await ws.recv()
    assert echo == (message if isinstance(message, (str, bytes))
                    else ''.join(message)), label
    log(label, 'ok', len(echo))


async def main(url, bulk):
    async with websockets.connect(url, compression=None, ping_interval=None,
                                  proxy=None, max_size=None) as ws:
        if bulk:
            count, size = bulk
            for i in range(count):
                # Distinct, non-repeating-looking bytes per message.
                await roundtrip(ws, bytes((i * 7 + j) % 251 for j in range(size)),
                                f'bulk {i + 1}/{count}')
        else:
            await roundtrip(ws, 'hello, flask-sock', 'text')
            await roundtrip(ws, bytes(range(16)), 'binary')
            await roundtrip(ws, 'x' * 200, '200 bytes (16-bit length)')
            await roundtrip(ws, ''.join(chr(0x61 + i % 26) for i in range(70000)),
                            '70000 bytes (64-bit length)')
            # An iterable is sent as one fragmented message: one frame per item.
            await roundtrip(ws, ['fragment one, ', 'fragment two, ', 'fragment three'],
                            'fragmented (3 frames)')
            pong = await ws.ping(b'dispel-ping')
            latency = await pong
            log('ping/pong ok', f'{latency * 1000:.2f} ms')
        await ws.close(code=1000, reason='done, goodbye')
        log('closed', ws.close_code, ws.close_reason)


if __name__ == '__main__':
    bulk = None
    if len(sys.argv) > 2 and sys.argv[2] == '--bulk':
        bulk = (int(sys.argv[3]), int(sys.argv[4]))
    asyncio.run(main(sys.argv[1], bulk))
