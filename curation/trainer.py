"""The proxy trainer: a small byte-level causal language model (torch; the embed extra installs
it). `curate ablate` trains one per arm and seed on a packed stream of the arm's documents and
measures bits per byte; JEST's reference model (scorers/reference_loss.py) and the JEST
benchmark's learner are the same model trained on texts.

    model, optimizer = new_model(seed=0, **model_settings("tiny"))
    train_run(model, optimizer, packed(byte_tokens(t) for t in texts), steps=500, batch_size=16)
    loss, bits_per_byte = held_out_loss(model, held_out_texts)
    losses = sequence_losses(model, texts)     # mean next-byte cross-entropy per text (nats): JEST

A token is a UTF-8 byte (0-255). In a packed stream each document ends with SEPARATOR, as
Megatron-LM's --append-eod does, and the stream is cut into rows of ``context + 1`` tokens (the
last predicts nothing). Per text (JEST), a row is the text's first ``context + 1`` bytes, or a
window at a random offset when training; short texts are padded with PAD, which is never
predicted. On a GPU, when torch sees one, models and batches go there.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from curation.errors import UserError

SEPARATOR = 256
PAD = 257
VOCAB = 258
# The tiny model trains at about 10-20k tokens/s on one CPU core; small is for a GPU.
MODELS = {"tiny": {"dim": 128, "layers": 2, "heads": 4, "context": 128},
          "small": {"dim": 512, "layers": 8, "heads": 8, "context": 512}}


def torch_threads() -> None:
    """In a Dask worker, the threads flows.runtime gives each (cores / workers): torch would take
    every core in every worker otherwise."""
    if os.environ.get("CURATION_TORCH_THREADS"):
        torch.set_num_threads(int(os.environ["CURATION_TORCH_THREADS"]))


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def model_settings(model: str) -> dict:
    """tiny, small, auto (small on a GPU, tiny otherwise) or a JSON file of TinyLM's settings."""
    if model == "auto":
        model = "small" if device() == "cuda" else "tiny"
    if model in MODELS:
        return dict(MODELS[model])
    path = Path(model)
    if not path.is_file():
        raise UserError(f"--model is tiny, small, auto or a JSON file of settings ({', '.join(MODELS['tiny'])}), not {model!r}")
    try:
        settings = json.loads(path.read_text())
        TinyLM(**settings)
    except (ValueError, TypeError, AssertionError) as error:
        raise UserError(f"{model}: not a model's settings ({error})") from None
    return settings


class TinyLM(nn.Module):
    def __init__(self, dim: int = 128, layers: int = 2, heads: int = 4, context: int = 128):
        super().__init__()
        self.context = context
        self.settings = {"dim": dim, "layers": layers, "heads": heads, "context": context}
        self.tokens = nn.Embedding(VOCAB, dim)
        self.positions = nn.Embedding(context, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB, bias=False)
        self.head.weight = self.tokens.weight
        # GPT-2's initialisation: embeddings of unit variance, tied to the output, would start
        # with logits of standard deviation sqrt(dim) (70 bits per byte before the first step).
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        hidden = self.tokens(ids) + self.positions(torch.arange(length, device=ids.device))
        hidden = self.blocks(hidden, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(hidden))

    def flops_per_token(self) -> int:
        """About 2 x parameters per token forward (attention over a short context is small)."""
        return 2 * sum(p.numel() for p in self.parameters())


def byte_tokens(text: str) -> np.ndarray:
    """A document as a packed stream holds it: its UTF-8 bytes, then SEPARATOR."""
    data = np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8).astype(np.int64)
    return np.append(data, SEPARATOR)


def packed(documents: Iterable[np.ndarray], length: int) -> Iterator[np.ndarray]:
    """The documents' tokens as one run cut into rows of ``length``; a last, partial row is dropped."""
    pending, held = [], 0
    for tokens in documents:
        pending.append(tokens)
        held += len(tokens)
        if held >= length:
            run = np.concatenate(pending)
            whole = len(run) // length * length
            yield from run[:whole].reshape(-1, length)
            pending, held = [run[whole:]], len(run) - whole


def encode(texts: list[str], context: int, offsets: np.ndarray | None = None) -> torch.Tensor:
    """[len(texts), context + 1] byte ids from each text (from ``offsets`` when given), PAD after."""
    out = np.full((len(texts), context + 1), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        data = text.encode("utf-8", errors="replace")
        start = int(offsets[row]) if offsets is not None else 0
        window = np.frombuffer(data[start : start + context + 1], dtype=np.uint8)
        out[row, : len(window)] = window
    return torch.from_numpy(out)


def _token_losses(model: TinyLM, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy at every position of every row (0 where the target is PAD), and
    which positions count."""
    ids = ids.to(next(model.parameters()).device)
    logits = model(ids[:, :-1])
    targets = ids[:, 1:]
    losses = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none",
                                         ignore_index=PAD).view(targets.shape)
    return losses, targets != PAD


def _losses(model: TinyLM, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-byte cross-entropy of each row, padding ignored."""
    losses, counted = _token_losses(model, ids)
    return losses.sum(dim=1) / counted.sum(dim=1).clamp(min=1)


def sequence_losses(model: TinyLM, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Per text, in eval mode and without gradients (JEST's pitfall 1)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            out.append(_losses(model, encode(texts[start : start + batch_size], model.context)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def held_out_loss(model: TinyLM, texts: list[str], batch_size: int = 64) -> tuple[float, float]:
    """Nats per token and bits per byte on held-out texts: the texts as one packed stream, every
    token after the first predicted from the context before it (rows of context + 1 overlapping
    by one token), the summed cross-entropy over the predicted tokens, and in bits over the texts'
    UTF-8 bytes. Separators are predicted and count in the loss, as a trainer of this stream sees
    them, but not as bytes."""
    stream = np.concatenate([byte_tokens(text) for text in texts])
    context = model.context
    rows = max(1, math.ceil((len(stream) - 1) / context))
    ids = np.full((rows, context + 1), PAD, dtype=np.int64)
    for row in range(rows):
        window = stream[row * context : row * context + context + 1]
        ids[row, : len(window)] = window
    model.eval()
    total = 0.0
    with torch.inference_mode():
        for start in range(0, rows, batch_size):
            losses, _ = _token_losses(model, torch.from_numpy(ids[start : start + batch_size]))
            total += float(losses.sum())
    return total / (len(stream) - 1), total / math.log(2) / (len(stream) - len(texts))


def train_step(model: TinyLM, optimizer: torch.optim.Optimizer, texts: list[str], rng: np.random.Generator) -> float:
    """One step on random windows of ``texts``; returns the batch's loss."""
    lengths = np.array([len(t.encode("utf-8", errors="replace")) for t in texts])
    offsets = (rng.random(len(texts)) * np.maximum(lengths - model.context - 1, 0)).astype(np.int64)
    return _step(model, optimizer, encode(texts, model.context, offsets))


def _step(model: TinyLM, optimizer: torch.optim.Optimizer, ids: torch.Tensor) -> float:
    model.train()
    loss = _losses(model, ids).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def new_model(seed: int = 0, learning_rate: float = 3e-3, **settings) -> tuple[TinyLM, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = TinyLM(**settings).to(device())
    return model, torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)


def train_run(model: TinyLM, optimizer: torch.optim.Optimizer, rows: Iterator[np.ndarray], steps: int, batch_size: int,
              every: int = 0, evaluate: Callable[[int, list[float]], None] | None = None) -> list[float]:
    """``steps`` steps of ``batch_size`` packed rows, the learning rate warmed up over the first
    5% and decayed on a cosine to a tenth (short proxy runs end less noisily decayed); calls
    ``evaluate(step, losses so far)`` every ``every`` steps and after the last. Returns each step's loss."""
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) * (
        0.1 + 0.45 * (1 + math.cos(math.pi * min(step, steps) / steps))))
    losses = []
    for step in range(1, steps + 1):
        batch = np.stack([next(rows) for _ in range(batch_size)])
        losses.append(_step(model, optimizer, torch.from_numpy(batch)))
        schedule.step()
        if evaluate is not None and (step == steps or (every and step % every == 0)):
            evaluate(step, losses)
    return losses


def train_lm(texts: list[str], steps: int = 300, batch_size: int = 32, seed: int = 0, **settings) -> TinyLM:
    model, optimizer = new_model(seed, **settings)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        train_step(model, optimizer, [texts[i] for i in rng.integers(0, len(texts), batch_size)], rng)
    return model


def save(model: TinyLM) -> dict:
    return {"settings": model.settings, "state": model.state_dict()}


def load(checkpoint: dict) -> TinyLM:
    model = TinyLM(**checkpoint["settings"])
    model.load_state_dict(checkpoint["state"])
    return model.eval().to(device())
