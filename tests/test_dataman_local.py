"""The DataMan local Hugging Face backend with a real causal LM: a tiny Qwen2 model with a ChatML
chat template, trained here to answer the rater prompt the way a DataMan rater does (one fixed
rating, since it only has to prove the path: chat template, greedy decoding, the new tokens
decoded and parsed). It is trained on the prompts the tests rate until it answers every one of
them exactly, checked through the rater itself, so the tests do not hang on a fixed number of
steps converging on the machine at hand; a model that does not get there within the bound fails
the fixture with what it answered. A prompt it was not trained on (the teacher prompt) gives an
answer that is recorded unrated, never guessed."""

from __future__ import annotations

import itertools

import pytest
from conftest import write_jsonl

from curation import Corpus
from curation.demo import sources
from curation.demo.build import DEFAULT_DATA_DIR
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run
from scorers.dataman.client import Unrated
from scorers.dataman.local import LocalRater
from scorers.dataman.prompts import COLUMNS, rater_prompt
from scorers.stage import ScoreConfig

ANSWER = "\n".join(["H", "4", "3", "5", "4", "2", "4", "1", "4", "4", "3", "5", "4", "5", "4"])
EXPECTED = ("H", dict(zip(COLUMNS, map(int, ANSWER.split()[1:]), strict=True)))
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# What the tests rate: rater prompts of stdlib code, and the linux docs the stage test ingests.
RATED = [t[:600] for _, t in itertools.islice(sources.python_stdlib(), 40, 45)]
STAGE_TEXTS = [t[:500] for _, t in itertools.islice(sources.linux_docs(DEFAULT_DATA_DIR / "root"), 6)]
CHECK_EVERY, MAX_STEPS = 100, 4000


@pytest.fixture(scope="module")
def rater_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    # Prompts of many lengths, so that the model learns to stop after the answer, not at a position.
    texts = [t[: 100 + 13 * i] for i, (_, t) in enumerate(itertools.islice(sources.python_stdlib(), 40))]
    prompts = [rater_prompt(text) for text in texts + RATED + STAGE_TEXTS]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [m["content"] for p in prompts for m in p] + [ANSWER]
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        bos_token=None, chat_template=CHATML)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    answer = tokenizer(ANSWER + "<|im_end|>", add_special_tokens=False)["input_ids"]
    examples = []
    for messages in prompts:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        examples.append((torch.tensor([ids + answer]), torch.tensor([[-100] * len(ids) + answer])))
    root = tmp_path_factory.mktemp("tiny-rater")
    for step in range(1, MAX_STEPS + 1):
        model.train()
        inputs, labels = examples[step % len(examples)]
        model(input_ids=inputs, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step % CHECK_EVERY == 0:
            folder = root / f"step-{step}"
            model.save_pretrained(folder)
            tokenizer.save_pretrained(folder)
            answers = _answers(str(folder))
            if all(rating == EXPECTED for rating in answers):
                return str(folder)
    pytest.fail(f"the tiny rater did not answer every rated prompt exactly in {MAX_STEPS} steps: {answers}")


def _answers(folder: str) -> list:
    """What the tests will get: the rater's answers at both batch sizes they use."""
    return LocalRater(folder, batch_size=2).rate(RATED) + LocalRater(folder).rate(STAGE_TEXTS)


def test_a_local_model_rates_through_its_chat_template_with_greedy_decoding(rater_dir):
    ratings = LocalRater(rater_dir, batch_size=2).rate(RATED)
    assert ratings == [EXPECTED] * len(RATED)
    # The teacher prompt is not what this model was trained on: its answer does not parse, and
    # the document is recorded unrated with the reason.
    teacher = LocalRater(rater_dir, mode="teacher").rate(RATED[:1])
    assert isinstance(teacher[0], Unrated) and teacher[0].error.startswith("unparseable answer")


def test_the_dataman_stage_with_the_hf_backend(rater_dir, tmp_path):
    docs = [{"id": f"d{i}", "text": text} for i, text in enumerate(STAGE_TEXTS)]
    write_jsonl(tmp_path / "in.jsonl", docs)
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    record = run(str(tmp_path / "c"), ScoreConfig(scorer="dataman", options={"backend": "hf", "model": rater_dir}))
    rows = Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM dataman").to_pylist()
    assert record.rows_in == len(rows) == 6
    assert all(r["rated"] and r["domain_name"] == "Coding" and r["backend"] == "hf" for r in rows)
