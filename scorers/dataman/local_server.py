"""A chat-completions server on 127.0.0.1 that answers DataMan rater prompts with a Python
function of the prompt's text, after an optional latency: for the client benchmark, the tests,
and dry runs of a pipeline before a real rater (vLLM, llama.cpp server) is up.

    with serve_chat(lambda text: "E\\n" + "3\\n" * 14, latency=0.2) as base_url:
        ChatClient(base_url, "any").rate(texts)
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def prompt_text(body: dict) -> str:
    """The document a rater prompt carries (between "Text: " and the domain line)."""
    return body["messages"][-1]["content"].split("Text: ", 1)[1].split("\nDomain:_", 1)[0]


@contextlib.contextmanager
def serve_chat(answer: Callable[[str], str], latency: float = 0.0) -> Iterator[str]:
    """Yields the server's base URL (http://127.0.0.1:PORT/v1); stops it on exit."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the http.server API)
            text = prompt_text(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            time.sleep(latency)
            data = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer(text)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default backlog of 5 refuses bursts of connections
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
