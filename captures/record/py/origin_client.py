"""python-socketio client for the ending-origin-refused capture.

Usage: python origin_client.py URL

Connects with an Origin header the server does not allow (as a page served
from another site would); the handshake is refused and connect() raises.
"""
import sys

import socketio

sio = socketio.Client(reconnection=False)
try:
    sio.connect(sys.argv[1], headers={'Origin': 'http://other.example'},
                wait_timeout=5)
except socketio.exceptions.ConnectionError as e:
    print('[client] refused:', e, flush=True)
    sys.exit(0)
print('[client] connected: the origin was not refused', flush=True)
sys.exit(1)
