"""An OpenAI-compatible chat-completions client for DataMan ratings (vLLM, llama.cpp server, TGI or
a hosted API): bounded concurrency, a timeout per request, retries with exponential backoff on
429 (honouring Retry-After), 5xx, timeouts and unparseable answers, and a cache keyed by the text's
hash, the model and the prompt version, so a rerun never pays twice. The API key is read from an
environment variable and sent only in the Authorization header; it is never logged or cached.

    client = ChatClient("http://127.0.0.1:8000/v1", model="RuPeng/DataMan-1.5B-EN", cache_dir="cache")
    ratings = client.rate(texts)      # (domain, scores) or an Unrated with the last error, per text
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from scorers.dataman.parse import Unparseable, parse_rater_answer, parse_teacher_answer
from scorers.dataman.prompts import PROMPT_VERSION, annotation_prompt, rater_prompt

MODES = {"rater": (rater_prompt, parse_rater_answer, 29), "teacher": (annotation_prompt, parse_teacher_answer, 4096)}


@dataclass(frozen=True)
class Unrated:
    error: str


Rating = tuple[str, dict[str, int]] | Unrated  # (domain letter, the 14 scores), or why there are none


class ChatClient:
    def __init__(self, base_url: str, model: str, mode: str = "rater", api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0,
                 cache_dir: str | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.mode = model, mode
        self.prompt, self.parse, self.max_tokens = MODES[mode]
        self._api_key = os.environ.get(api_key_env)
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff
        self.cache = Path(cache_dir) if cache_dir else None

    def rate(self, texts: list[str]) -> list[Rating]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self.rate_one, texts))

    def rate_one(self, text: str) -> Rating:
        cached = self._cached(text)
        if cached is not None:
            return self.parse(cached)
        error = "no attempt"
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2**attempt
            try:
                answer = self._complete(self.prompt(text))
                rating = self.parse(answer)
            except urllib.error.HTTPError as failure:
                error = f"HTTP {failure.code}"
                if failure.code == 429 and failure.headers.get("Retry-After", "").strip().isdigit():
                    wait = float(failure.headers["Retry-After"])
                elif failure.code != 429 and failure.code < 500:
                    return Unrated(error)  # a client error does not get better by asking again
            except (TimeoutError, urllib.error.URLError, ConnectionError) as failure:
                error = f"{type(failure).__name__}: {getattr(failure, 'reason', failure)}"
            except (Unparseable, KeyError, ValueError) as failure:
                error = f"unparseable answer: {failure}"[:300]
            else:
                self._store(text, answer)
                return rating
            if attempt < self.retries:
                time.sleep(wait)
        return Unrated(error)

    def _complete(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0.0,
                           "max_tokens": self.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.loads(response.read())["choices"][0]["message"]["content"]

    def _key(self, text: str) -> str:
        return hashlib.sha256(json.dumps([self.model, self.mode, PROMPT_VERSION, text]).encode()).hexdigest()

    def _cached(self, text: str) -> str | None:
        if self.cache is None:
            return None
        path = self.cache / self._key(text)[:2] / self._key(text)
        return path.read_text() if path.exists() else None

    def _store(self, text: str, answer: str) -> None:
        if self.cache is None:
            return
        key = self._key(text)
        path = self.cache / key[:2] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{id(answer)}.tmp")
        tmp.write_text(answer)
        tmp.replace(path)  # atomic: concurrent writers of one key leave one whole answer
