"""A real HTTP server on loopback that receives webhook deliveries, for the webhook tests: it records each
request and answers with the status codes the test scripts (200 once the script runs out)."""

import contextlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


class Receiver:
    def __init__(self, server):
        self.server = server
        self.requests: list[Received] = []
        self.statuses: list[int] = []  # the next answers' status codes, in order
        self.delay = 0.0  # seconds to wait before answering
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/helpdesk?source=test"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with receiver.lock:
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            status = receiver.statuses.pop(0) if receiver.statuses else 200
        if receiver.delay:
            time.sleep(receiver.delay)
        answer = b"thanks" if status < 300 else b"Internal trouble: " + b"x" * 2000
        try:
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:  # the client gave up (a timeout test)
            pass

    def log_message(self, format, *args):  # quiet
        pass


@contextlib.contextmanager
def running_receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
