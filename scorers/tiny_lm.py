"""A tiny byte-level causal language model (torch; the embed extra installs it), as JEST's
reference model and as a learner in benchmarks: small enough to train on 2 CPU cores in a minute.

    model = train_lm(texts, steps=300, seed=0)
    losses = sequence_losses(model, texts)     # mean next-byte cross-entropy per text (nats)

A text is its UTF-8 bytes; each sequence is the first ``context`` + 1 bytes (texts are cut, short
ones padded and the padding ignored), and training windows are drawn at random offsets.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

PAD = 256
VOCAB = 257


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
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        hidden = self.tokens(ids) + self.positions(torch.arange(length, device=ids.device))
        hidden = self.blocks(hidden, mask=self.mask[:length, :length], is_causal=True)
        return self.head(self.norm(hidden))

    def flops_per_token(self) -> int:
        """About 2 x parameters per token forward (attention over a short context is small)."""
        return 2 * sum(p.numel() for p in self.parameters())


def encode(texts: list[str], context: int, offsets: np.ndarray | None = None) -> torch.Tensor:
    """[len(texts), context + 1] byte ids from each text (from ``offsets`` when given), PAD after."""
    out = np.full((len(texts), context + 1), PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        data = text.encode("utf-8", errors="replace")
        start = int(offsets[row]) if offsets is not None else 0
        window = np.frombuffer(data[start : start + context + 1], dtype=np.uint8)
        out[row, : len(window)] = window
    return torch.from_numpy(out)


def _losses(model: TinyLM, ids: torch.Tensor) -> torch.Tensor:
    """Mean next-byte cross-entropy of each row, padding ignored."""
    logits = model(ids[:, :-1])
    targets = ids[:, 1:]
    losses = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none",
                                         ignore_index=PAD).view(targets.shape)
    counts = (targets != PAD).sum(dim=1).clamp(min=1)
    return losses.sum(dim=1) / counts


def sequence_losses(model: TinyLM, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Per text, in eval mode and without gradients (JEST's pitfall 1)."""
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            out.append(_losses(model, encode(texts[start : start + batch_size], model.context)).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_step(model: TinyLM, optimizer: torch.optim.Optimizer, texts: list[str], rng: np.random.Generator) -> float:
    """One step on random windows of ``texts``; returns the batch's loss."""
    model.train()
    lengths = np.array([len(t.encode("utf-8", errors="replace")) for t in texts])
    offsets = (rng.random(len(texts)) * np.maximum(lengths - model.context - 1, 0)).astype(np.int64)
    loss = _losses(model, encode(texts, model.context, offsets)).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def new_model(seed: int = 0, **settings) -> tuple[TinyLM, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = TinyLM(**settings)
    return model, torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)


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
    return model.eval()
