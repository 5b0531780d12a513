"""A DataMan rater run in this process from a local Hugging Face causal-LM directory (the published
raters, e.g. RuPeng/DataMan-1.5B-EN, are Qwen2 fine-tunes): the rater prompt through the model's
own chat template, greedy decoding of at most 29 new tokens as DataMan's vLLM runs do, the new
tokens parsed as an answer. Greedy decoding is deterministic, so an unparseable answer is recorded
unrated at once; asking again would only repeat it. Nothing is downloaded: the directory must hold
the weights and the tokenizer. A GPU is used when torch sees one.

    rater = LocalRater("/models/DataMan-1.5B-EN")
    ratings = rater.rate(texts)     # (domain, scores) or Unrated, per text
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from curation.errors import UserError
from scorers.dataman.client import MODES, Rating, Unrated
from scorers.dataman.parse import Unparseable


@lru_cache(maxsize=1)
def _load(path: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer.padding_side = "left"  # generation continues every prompt of a batch from its end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype="auto").to(device).eval()
    return tokenizer, model


class LocalRater:
    def __init__(self, path: str, mode: str = "rater", batch_size: int = 8):
        if not (Path(path) / "config.json").is_file():
            raise UserError(f"the hf backend needs --set model=DIR of a local Hugging Face model (no config.json in {path})")
        self.path, self.batch_size = path, batch_size
        self.prompt, self.parse, self.max_tokens = MODES[mode]

    def rate(self, texts: list[str]) -> list[Rating]:
        return [rating for start in range(0, len(texts), self.batch_size)
                for rating in self._rate_batch(texts[start : start + self.batch_size])]

    def _rate_batch(self, texts: list[str]) -> list[Rating]:
        import torch

        tokenizer, model = _load(self.path)
        prompts = [tokenizer.apply_chat_template(self.prompt(text), tokenize=False, add_generation_prompt=True)
                   for text in texts]
        # A decoder-only model takes no token_type_ids; transformers 4.x's generate refuses them.
        inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False,
                           return_token_type_ids=False).to(model.device)
        with torch.inference_mode():
            generated = model.generate(**inputs, max_new_tokens=self.max_tokens, do_sample=False,
                                       pad_token_id=tokenizer.pad_token_id)
        answers = tokenizer.batch_decode(generated[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        ratings = []
        for answer in answers:
            try:
                ratings.append(self.parse(answer))
            except Unparseable as failure:
                ratings.append(Unrated(f"unparseable answer: {failure}"[:300]))
        return ratings
