"""The DataMan local Hugging Face backend with a real causal LM: a tiny Qwen2 model with a ChatML
chat template, trained here in a few seconds to answer the rater prompt the way a DataMan rater
does (one fixed rating, since it only has to prove the path: chat template, greedy decoding, the
new tokens decoded and parsed). A prompt it was not trained on gives an answer that is recorded
unrated, never guessed."""

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
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def rater_dir(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    # Prompts of many lengths, so that the model learns to stop after the answer, not at a position.
    texts = [t[: 100 + 13 * i] for i, (_, t) in enumerate(itertools.islice(sources.python_stdlib(), 60))]
    prompts = [rater_prompt(text) for text in texts]
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
    model.train()
    for step in range(600):
        inputs, labels = examples[step % len(examples)]
        loss = model(input_ids=inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    folder = tmp_path_factory.mktemp("tiny-rater")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_a_local_model_rates_through_its_chat_template_with_greedy_decoding(rater_dir):
    unseen = [t[:600] for _, t in itertools.islice(sources.python_stdlib(), 40, 45)]
    ratings = LocalRater(rater_dir, batch_size=2).rate(unseen)
    assert all(r == ("H", dict(zip(COLUMNS, map(int, ANSWER.split()[1:]), strict=True))) for r in ratings), ratings
    # The teacher prompt is not what this model was trained on: its answer does not parse, and
    # the document is recorded unrated with the reason.
    teacher = LocalRater(rater_dir, mode="teacher").rate(unseen[:1])
    assert isinstance(teacher[0], Unrated) and teacher[0].error.startswith("unparseable answer")


def test_the_dataman_stage_with_the_hf_backend(rater_dir, tmp_path):
    root = DEFAULT_DATA_DIR / "root"
    # Short texts: the tiny model was trained on prompts of up to ~700 tokens.
    docs = [{"id": f"d{i}", "text": t[:500]} for i, (_, t) in enumerate(itertools.islice(sources.linux_docs(root), 6))]
    write_jsonl(tmp_path / "in.jsonl", docs)
    run(str(tmp_path / "c"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))]))
    record = run(str(tmp_path / "c"), ScoreConfig(scorer="dataman", options={"backend": "hf", "model": rater_dir}))
    rows = Corpus.open(str(tmp_path / "c")).sql("SELECT * FROM dataman").to_pylist()
    assert record.rows_in == len(rows) == 6
    assert all(r["rated"] and r["domain_name"] == "Coding" and r["backend"] == "hf" for r in rows)
