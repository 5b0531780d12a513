"""A chat-completions server on 127.0.0.1 that answers DataMan rater prompts with a Python
function of the prompt's text (``feature_rater`` is one), after an optional latency: for the client
benchmark, the tests, and dry runs of a pipeline before a real rater (vLLM, llama.cpp server) is up.

    with serve_chat(lambda text: "E\\n" + "3\\n" * 14, latency=0.2) as base_url:
        ChatClient(base_url, "any").rate(texts)
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from scorers.dataman.prompts import COLUMNS


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


TECHNOLOGY = {"kernel", "linux", "driver", "device", "devices", "memory", "interface", "system", "file", "files",
              "module", "hardware", "cpu", "bus", "register", "support", "data", "user", "access"}


def _step(value: float, cuts: tuple[float, ...]) -> int:
    return 1 + sum(value > cut for cut in cuts)


def feature_rater(text: str) -> str:
    """A deterministic stand-in for a rater: each criterion a step function of one measurable
    feature of the text (length, word length, punctuation, line breaks), the domain Coding for
    code, Technology for technical prose, Entertainment otherwise."""
    words = text.split()
    chars = max(len(text), 1)
    features = [
        _step(math.log1p(len(words)), (2.5, 3.5, 4.5, 5.5)),
        _step(sum(map(len, words)) / max(len(words), 1), (3.8, 4.3, 4.8, 5.3)),
        _step(sum(not c.isalnum() and not c.isspace() for c in text) / chars, (0.02, 0.04, 0.07, 0.1)),
        _step(text.count("\n") / max(len(words), 1), (0.05, 0.1, 0.15, 0.25)),
    ]
    scores = [features[i % len(features)] for i in range(len(COLUMNS))]
    technical = sum(word.lower().strip(".,:;()") in TECHNOLOGY for word in words)
    domain = "H" if ("def " in text or "import " in text) else "E" if technical >= 3 else "F"
    return "\n".join([domain, *map(str, scores)])
