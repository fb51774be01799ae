"""python-socketio client scenario for the flask-socketio-* captures.

Usage: python sio_client.py URL        (e.g. http://127.0.0.1:5001)

Steps (each waits for the server's answer, so the wire order is fixed):
  1. connect: Engine.IO v4 long-polling handshake, then the upgrade to
     WebSocket (websocket-client is installed, so python-engineio upgrades)
  2. emit "chat"              -> server emits "chat" back
  3. emit "ack-me" + callback -> server's return value comes back as an ACK
  4. emit "join"              -> server join_room() + room broadcast "room-news"
  5. emit "upload" (bytes)    -> BINARY_EVENT with one attachment; the server
                                 echoes it as a BINARY_EVENT too
  6. linger 2.5 s             -> heartbeats (server ping_interval is 1 s)
  7. disconnect cleanly
"""
import sys
import threading
import time

import socketio

URL = sys.argv[1]
TIMEOUT = 10

sio = socketio.Client()
got = {name: threading.Event()
       for name in ('chat', 'ack', 'room-news', 'upload-echo')}


def log(*args):
    print('[client]', *args, flush=True)


@sio.on('chat')
def on_chat(msg):
    log('chat', msg)
    got['chat'].set()


@sio.on('room-news')
def on_room_news(msg):
    log('room-news', msg)
    got['room-news'].set()


@sio.on('upload-echo')
def on_upload_echo(msg):
    log('upload-echo', msg['size'], msg['data'][:8])
    got['upload-echo'].set()


def wait(name):
    if not got[name].wait(TIMEOUT):
        raise SystemExit('timed out waiting for ' + name)


sio.connect(URL)
# python-engineio upgrades inside connect(); check rather than assume, so a
# capture silently stuck on long-polling fails loudly instead.
deadline = time.time() + TIMEOUT
while sio.transport() != 'websocket':
    if time.time() > deadline:
        raise SystemExit('never upgraded to websocket: ' + sio.transport())
    time.sleep(0.05)
log('connected', sio.sid, 'transport', sio.transport())

sio.emit('chat', 'hello from python')
wait('chat')

sio.emit('ack-me', {'n': 21},
         callback=lambda reply: (log('ack', reply), got['ack'].set()))
wait('ack')

sio.emit('join', 'room1')
wait('room-news')

# Non-UTF-8 bytes on purpose: this can only travel as a binary attachment.
sio.emit('upload', bytes([0x00, 0x01, 0x02, 0xfe, 0xff]) + b'dispel')
wait('upload-echo')

time.sleep(2.5)
sio.disconnect()
log('disconnected')
