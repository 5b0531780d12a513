"""The ``dataman`` scorer: the 14 DataMan scores and the domain of every document, from one of
three backends: an OpenAI-compatible server (``openai``, scorers.dataman.client), a local Hugging
Face causal LM directory such as the published DataMan raters (``hf``, scorers.dataman.local), or
a rater distilled from either by `curate distill-dataman` (``distilled``). A document that could
not be rated gets ``rated = false``, its scores null and the last error, never a default score."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.errors import UserError
from curation.model_cache import models_dir
from scorers.base import Scorer
from scorers.dataman.client import MODES, ChatClient, Rating, Unrated
from scorers.dataman.distill import DistilledRater
from scorers.dataman.prompts import COLUMNS, DOMAINS

BACKENDS = ("openai", "hf", "distilled")
DISTILLED_FILE = "distilled.npz"


class DataManScorer(Scorer):
    """DataMan's 14 quality scores and domain: an OpenAI-compatible server, a local HF model, or a distilled rater."""

    name = "dataman"

    def __init__(self, backend: str = "openai", model: str | None = None, base_url: str | None = None,
                 mode: str = "rater", api_key_env: str = "OPENAI_API_KEY", concurrency: int = 8,
                 timeout: float = 60.0, retries: int = 4, cache_dir: str | None = None, batch_size: int = 8):
        if backend not in BACKENDS:
            raise UserError(f"dataman backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        if mode not in MODES:
            raise UserError(f"dataman mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not model:
            raise UserError(f"dataman needs --set model=... (the {backend} backend's model)")
        self.backend, self.model = backend, model
        if backend == "openai":
            if not base_url:
                raise UserError("the openai backend needs --set base_url=http://host:port/v1")
            self.backend = f"openai-compatible {base_url}"
            self.rater = ChatClient(base_url, model, mode, api_key_env, concurrency, timeout, retries,
                                    cache_dir=cache_dir or str(models_dir() / "dataman-cache"))
        elif backend == "hf":
            from scorers.dataman.local import LocalRater

            self.rater = LocalRater(model, mode, batch_size)
        else:
            if not (Path(model) / DISTILLED_FILE).is_file():
                raise UserError(f"{model} holds no distilled rater; `curate distill-dataman` makes one")
            self.rater = DistilledBackend(model)

    @property
    def schema(self) -> pa.Schema:
        scores = [(column, pa.int8()) for column in COLUMNS]
        return pa.schema([*scores, ("domain", pa.string()), ("domain_name", pa.string()), ("rated", pa.bool_()),
                          ("error", pa.string()), ("backend", pa.string()), ("model", pa.string())])

    def score(self, batch: pa.RecordBatch) -> pa.Table:
        rows = []
        for rating in self.rater.rate(batch.column("text").to_pylist()):
            if isinstance(rating, Unrated):
                row = dict.fromkeys(COLUMNS) | {"domain": None, "domain_name": None, "rated": False, "error": rating.error}
            else:
                domain, scores = rating
                row = scores | {"domain": domain, "domain_name": DOMAINS[domain], "rated": True, "error": None}
            rows.append(row | {"backend": self.backend, "model": self.model})
        return pa.Table.from_pylist(rows, schema=self.schema)


@lru_cache(maxsize=2)
def _distilled(folder: str) -> DistilledRater:
    return DistilledRater.from_bytes((Path(folder) / DISTILLED_FILE).read_bytes())


class DistilledBackend:
    """Scores of a distilled rater rounded to DataMan's 1-5 integers, so attrs/dataman reads the same
    whichever backend wrote it."""

    def __init__(self, folder: str):
        self.folder = folder

    def rate(self, texts: list[str]) -> list[Rating]:
        scores, domains = _distilled(self.folder).predict(texts)
        rounded = np.rint(scores).astype(int).tolist()
        return [(str(domain), dict(zip(COLUMNS, row, strict=True))) for domain, row in zip(domains, rounded, strict=True)]
