"""The ``dataman`` scorer: the 14 DataMan scores and the domain of every document from an
OpenAI-compatible server (scorers.dataman.client). A document that could not be rated gets
``rated = false``, its scores null and the last error, never a default score."""

from __future__ import annotations

import pyarrow as pa

from curation.errors import UserError
from curation.model_cache import models_dir
from scorers.base import Scorer
from scorers.dataman.client import MODES, ChatClient, Unrated
from scorers.dataman.prompts import COLUMNS, DOMAINS


class DataManScorer(Scorer):
    """DataMan's 14 quality scores and domain from an OpenAI-compatible server (rater or teacher prompt)."""

    name = "dataman"

    def __init__(self, base_url: str | None = None, model: str | None = None, mode: str = "rater",
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8, timeout: float = 60.0, retries: int = 4,
                 cache_dir: str | None = None):
        if not base_url or not model:
            raise UserError("dataman needs --set base_url=http://host:port/v1 --set model=NAME")
        if mode not in MODES:
            raise UserError(f"dataman mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.backend = f"openai-compatible {base_url}"
        self.model = model
        self.client = ChatClient(base_url, model, mode, api_key_env, concurrency, timeout, retries,
                                 cache_dir=cache_dir or str(models_dir() / "dataman-cache"))

    @property
    def schema(self) -> pa.Schema:
        scores = [(column, pa.int8()) for column in COLUMNS]
        return pa.schema([*scores, ("domain", pa.string()), ("domain_name", pa.string()), ("rated", pa.bool_()),
                          ("error", pa.string()), ("backend", pa.string()), ("model", pa.string())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        rows = []
        for rating in self.client.rate(batch.column("text").to_pylist()):
            if isinstance(rating, Unrated):
                row = dict.fromkeys(COLUMNS) | {"domain": None, "domain_name": None, "rated": False, "error": rating.error}
            else:
                domain, scores = rating
                row = scores | {"domain": domain, "domain_name": DOMAINS[domain], "rated": True, "error": None}
            rows.append(row | {"backend": self.backend, "model": self.model})
        return pa.Table.from_pylist(rows, schema=self.schema)
