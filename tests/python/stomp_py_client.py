"""Drives Gantry's STOMP endpoint with stomp.py over a plain WebSocket, unmodified (its
WSStompConnection, STOMP 1.2), and prints one JSON line describing what happened.

Usage: python stomp_py_client.py <base http url> <token>
"""

import json
import sys
import threading
from urllib.parse import urlparse

import stomp

base, token = sys.argv[1], sys.argv[2]
url = urlparse(base)
outcome = {"connected": False, "replies": [], "progress": [], "results": [], "errors": []}
done = threading.Event()
kinds = {"1": "replies", "2": "progress", "3": "results"}


class Listener(stomp.ConnectionListener):
    def on_connected(self, frame):
        outcome["connected"] = True
        outcome["version"] = frame.headers.get("version")
        outcome["user"] = frame.headers.get("user-name")

    def on_message(self, frame):
        kind = kinds.get(frame.headers.get("subscription", ""))
        if kind:
            outcome[kind].append(json.loads(frame.body))
        if kind == "results":
            done.set()

    def on_error(self, frame):
        outcome["errors"].append(frame.headers.get("message"))
        done.set()


connection = stomp.WSStompConnection([(url.hostname, url.port)], ws_path="/ws", reconnect_attempts_max=1)
connection.set_listener("", Listener())
connection.connect(headers={"Authorization": "Bearer " + token}, wait=True)
for sub_id, destination in [("1", "/user/queue/reply"), ("2", "/user/topic/progress"), ("3", "/user/topic/result")]:
    connection.subscribe(destination, id=sub_id)
request = {"type": "TEXT2IMG", "prompt": "a cat over stomp.py", "width": 64, "height": 64, "steps": 8}
connection.send("/app/generate", json.dumps(request), content_type="application/json")
finished = done.wait(45)
connection.disconnect()
outcome["timedOut"] = not finished
print(json.dumps(outcome))
sys.exit(0 if outcome["results"] else 1)
