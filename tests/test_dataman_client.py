"""The DataMan HTTP backend against a real chat-completions server on 127.0.0.1: good answers
parse, malformed answers, 500s, 429s with Retry-After and a slow server are retried and finally
recorded as unrated, the cache prevents a second request, and the API key travels only in the
Authorization header."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scorers.dataman.client import ChatClient, Unrated
from scorers.dataman.local_server import prompt_text
from scorers.dataman.prompts import COLUMNS


class RaterServer(BaseHTTPRequestHandler):
    """Answers like a DataMan rater; what a text contains decides how it misbehaves."""

    calls: Counter = Counter()
    authorizations: list = []

    def do_POST(self):  # noqa: N802 (the http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = prompt_text(body)
        RaterServer.calls[text] += 1
        RaterServer.authorizations.append(self.headers.get("Authorization"))
        attempt = RaterServer.calls[text]
        if "ALWAYS500" in text or ("ONCE500" in text and attempt == 1):
            return self._send(500, {"error": "boom"})
        if "LIMITED" in text and attempt == 1:
            return self._send(429, {"error": "slow down"}, {"Retry-After": "1"})
        if "SLOW" in text:
            time.sleep(1.5)
        if "GARBLED" in text and attempt <= 2:
            return self._answer("I think this text is rather good, maybe 4/5.")
        # A deterministic rater: the overall score follows the number of words.
        overall = 1 + len(text.split()) % 5
        self._answer("\n".join(["E"] + ["3"] * 13 + [str(overall)]))

    def _answer(self, content: str):
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

    def _send(self, status: int, payload: dict, headers: dict | None = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    RaterServer.calls.clear()
    RaterServer.authorizations.clear()
    class Server(ThreadingHTTPServer):
        request_queue_size = 64  # the default backlog of 5 would refuse a burst of connections
        daemon_threads = True

    httpd = Server(("127.0.0.1", 0), RaterServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_good_answers_parse_and_the_cache_prevents_a_second_request(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMAN_KEY", "secret-key")
    client = ChatClient(server, "dataman-test", api_key_env="DATAMAN_KEY", cache_dir=str(tmp_path / "cache"))
    texts = ["one two three", "a text of five words", "seven words make up this whole text"]
    first = client.rate(texts)
    assert [r[0] for r in first] == ["E", "E", "E"]
    assert [r[1]["overall_score"] for r in first] == [4, 1, 3] and list(first[0][1]) == list(COLUMNS)
    assert client.rate(texts) == first and sum(RaterServer.calls.values()) == 3
    assert set(RaterServer.authorizations) == {"Bearer secret-key"}
    assert not any("secret-key" in path.read_text() for path in (tmp_path / "cache").rglob("*") if path.is_file())


def test_failures_are_retried_then_recorded_unrated(server):
    client = ChatClient(server, "dataman-test", timeout=0.5, retries=2, backoff=0.01)
    ratings = client.rate(["ONCE500 then fine", "LIMITED at first", "GARBLED twice then fine", "ALWAYS500 here", "SLOW answer"])
    assert ratings[0][0] == "E" and RaterServer.calls["ONCE500 then fine"] == 2
    assert ratings[1][0] == "E" and RaterServer.calls["LIMITED at first"] == 2
    assert ratings[2][0] == "E" and RaterServer.calls["GARBLED twice then fine"] == 3
    assert ratings[3] == Unrated("HTTP 500") and RaterServer.calls["ALWAYS500 here"] == 3
    assert isinstance(ratings[4], Unrated) and "timed out" in ratings[4].error and RaterServer.calls["SLOW answer"] == 3


def test_concurrency_not_the_client_bounds_throughput(server):
    texts = [f"SLOW text number {i}" for i in range(16)]
    started = time.time()
    ratings = ChatClient(server, "dataman-test", concurrency=16, timeout=5).rate(texts)
    assert all(not isinstance(r, Unrated) for r in ratings)
    assert time.time() - started < 1.5 * 3  # 16 requests of 1.5 s each, in parallel


def test_the_dataman_stage_writes_scores_and_marks_what_it_could_not_rate(server, tmp_path):
    from conftest import write_jsonl

    from curation import Corpus
    from curation.ingest.stage import IngestConfig
    from curation.ingest.units import InputSpec
    from curation.stage import run
    from scorers.stage import ScoreConfig

    texts = ["one two three", "a text of five words", "ALWAYS500 never rated"]
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)])
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    options = {"base_url": server, "model": "dataman-test", "retries": 1, "timeout": 5, "cache_dir": str(tmp_path / "cache")}
    record = run(str(tmp_path / "c"), ScoreConfig(scorer="dataman", options=options))
    rows = {r["id"]: r for r in Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM dataman").to_pylist()}
    assert record.rows_in == 3
    assert rows["d0"]["rated"] and rows["d0"]["overall_score"] == 4 and rows["d0"]["domain_name"] == "Technology"
    assert not rows["d2"]["rated"] and rows["d2"]["overall_score"] is None and rows["d2"]["error"] == "HTTP 500"
    assert rows["d1"]["model"] == "dataman-test" and rows["d1"]["backend"].startswith("openai-compatible")
