"""Ablations: `curate ablate NAME DIR --arm A=SOURCE --arm B=SOURCE [--tokens N] [--seeds 3]`
trains the same small causal language model (curation.trainer) for the same number of tokens on
each arm's documents, once per seed, and measures held-out bits per byte on each eval set.

    arms        A=SOURCE: a selection, a mixture (with its weights and schedule) or all; the first
                arm is the baseline the others are compared with (curation.ablate.arms)
    eval sets   drawn before any arm is built and left out of every arm: by default, per domain,
                documents in a seeded order up to eval_bytes each; --eval SQL draws them from the
                documents passing SQL, --eval DIR takes each .jsonl or .parquet file as a set

    ablations/NAME/ablation.json     the config, the model's settings, every input's fingerprint
                   runs.parquet      arm, seed, eval_set, tokens, loss (nats per token),
                                     bits_per_byte, train_loss, wall_time_s: the view ablation_NAME
                   curves.parquet    the same at every evaluation (the loss curves)
                   summary.parquet   per arm and eval set over the seeds (curation.ablate.summary):
                                     the view ablation_NAME_summary
                   eval_sets.parquet eval_set, id, text_md5

Steps: draw-eval-sets and check every arm (driver), train-arm (a task per arm and seed, on the
workers, in parallel; deterministic per seed; a pair that finished is not trained again after a
crash), summarize (driver). The model reads UTF-8 bytes, so tokens are bytes (and a separator
per document); the arm's mixture is planned with a budget of as many of its own tokens.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from curation.ablate import arms
from curation.ablate.summary import summarize
from curation.corpus import Corpus, write_bytes_atomic, write_parquet_atomic
from curation.fingerprint import fingerprint
from curation.stage import Stage, StageConfig, StagePlan, StageResult, Step

RUNS_SCHEMA = pa.schema([
    ("arm", pa.string()), ("seed", pa.int64()), ("step", pa.int64()), ("tokens", pa.int64()), ("eval_set", pa.string()),
    ("loss", pa.float64()), ("bits_per_byte", pa.float64()), ("train_loss", pa.float64()), ("wall_time_s", pa.float64()),
])


class AblateConfig(StageConfig):
    name: str = Field(description="The ablation's name: ablations/NAME and the views ablation_NAME(_summary).")
    arms: dict[str, str] = Field(description="Each arm's name and documents: a selection, a mixture or all "
                                             "(NAME=SOURCE); the first is the baseline.")
    tokens: int = Field(1_000_000, gt=0, description="Tokens each run trains on (the model's tokens are bytes).")
    seeds: int = Field(3, ge=1, description="Runs per arm, seeds 0 to seeds-1 (initial weights, document order).")
    eval: str | None = Field(None, description="The eval sets: a condition on the corpus view (a set per domain of "
                                               "the documents passing it) or a folder of .jsonl/.parquet texts (a "
                                               "set per file); default: a set per domain.")
    eval_bytes: int = Field(32_768, gt=0, description="Bytes of text per eval set drawn from the corpus.")
    eval_seed: int = Field(0, description="Seed of the draw of the eval sets.")
    domain: str = Field("domain", description="A document's domain, for the eval sets and for arms that are not "
                                              "mixtures: a SQL expression.")
    model: str = Field("auto", description="tiny, small, auto (small when torch sees a GPU, tiny otherwise) or a "
                                           "JSON file of the model's settings.")
    batch_size: int = Field(16, gt=0, description="Sequences per step.")
    learning_rate: float = Field(3e-3, gt=0, description="Peak learning rate (warmup, then cosine decay).")
    max_epochs: float = Field(4.0, gt=0, description="Refuse a budget that repeats a domain of an arm more.")
    evaluations: int = Field(4, ge=1, description="Points of each run's loss curve; the last is its final loss.")

    @field_validator("arms")
    @classmethod
    def _some_arms(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("give at least one arm: --arm NAME=SOURCE")
        return value


def _instance(config: AblateConfig) -> str:
    return config.name


def _check(corpus: Corpus, config: AblateConfig) -> None:
    from curation.registry import check_instance_name
    from curation.trainer import model_settings

    check_instance_name(config.name, "an ablation name", corpus, "ablate")
    for name, source in config.arms.items():
        arms.resolve(corpus, name, source)
    model_settings(config.model)


def _eval_files(config: AblateConfig) -> list:
    """An eval folder is read from outside the corpus: its files' sizes and times are an input."""
    if config.eval is None or not Path(config.eval).is_dir():
        return []
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(Path(config.eval).iterdir())]


def _with_arm_inputs(plan: StagePlan) -> StagePlan:
    """The arms' selections and mixtures are inputs too: after one changed, the ablation runs again."""
    resolved = [arms.resolve(plan.corpus, name, source) for name, source in plan.config.arms.items()]
    inputs = {**plan.inputs, "arms": fingerprint({arm.name: arms.arm_fingerprint(plan.corpus, arm) for arm in resolved})}
    input_fp = fingerprint(inputs)
    previous = plan.previous
    record = previous if previous is not None and previous.matches(plan.config_fingerprint, input_fp) else None
    return replace(plan, inputs=inputs, input_fingerprint=input_fp, record=record)


def _eval_path(plan: StagePlan) -> str:
    return f"{plan.staging}/eval_sets.parquet"


def _arm(plan: StagePlan, name: str) -> arms.Arm:
    return arms.resolve(plan.corpus, name, plan.config.arms[name])


def _arm_plan(plan: StagePlan, name: str, seed: int):
    config, arm = plan.config, _arm(plan, name)
    mixture = arms.mixture_config(plan.corpus, arm, config.domain, plan.corpus.to_uri(_eval_path(plan)), seed)
    return arms.plan_arm(plan.corpus, arm, mixture, config.tokens, config.max_epochs)


def draw_eval_sets(plan: StagePlan) -> None:
    """Draw the eval sets once, then plan every arm without them: a bad arm stops the ablation
    here, before any model trains."""
    config = plan.config
    if not plan.corpus.fs.exists(_eval_path(plan)):
        table = arms.eval_sets(plan.corpus, config.eval, config.domain, config.eval_bytes, config.eval_seed)
        write_parquet_atomic(plan.corpus.fs, _eval_path(plan), table)
    for name in config.arms:
        _arm_plan(plan, name, seed=0)


def runs(plan: StagePlan) -> list[tuple[str, int]]:
    return [(name, seed) for seed in range(plan.config.seeds) for name in plan.config.arms]


def train_arm(plan: StagePlan, item: tuple[str, int]) -> None:
    """One run: the arm's mixture for this seed written to the staging area, the model trained
    on its packed stream and evaluated ``evaluations`` times, the rows staged, the mixture removed."""
    from curation import trainer
    from curation.mixture.emit import write_mixture
    from curation.mixture.stream import stream

    name, seed = item
    config, corpus = plan.config, plan.corpus
    folder = f"{plan.staging}/arms/{name}-{seed}"
    if corpus.fs.exists(folder):  # an earlier attempt that did not finish
        corpus.fs.rm(folder, recursive=True)
    manifest = write_mixture(corpus, f"{config.name}_{name}", _arm_plan(plan, name, seed), folder)
    trainer.torch_threads()
    settings = trainer.model_settings(config.model)
    model, optimizer = trainer.new_model(seed, config.learning_rate, **settings)
    row = settings["context"] + 1
    steps = max(1, round(config.tokens / (config.batch_size * row)))
    eval_sets = _eval_texts(plan)
    rows, started = [], time.perf_counter()

    def evaluate(step: int, losses: list[float]) -> None:
        for eval_set, texts in eval_sets.items():
            loss, bits = trainer.held_out_loss(model, texts)
            rows.append({"arm": name, "seed": seed, "step": step, "tokens": step * config.batch_size * row,
                         "eval_set": eval_set, "loss": loss, "bits_per_byte": bits,
                         "train_loss": sum(losses[-10:]) / len(losses[-10:]),
                         "wall_time_s": time.perf_counter() - started})

    documents = (trainer.byte_tokens(doc["text"]) for doc in _endless(stream, manifest, Path(folder)))
    trainer.train_run(model, optimizer, trainer.packed(documents, row), steps, config.batch_size,
                      every=math.ceil(steps / config.evaluations), evaluate=evaluate)
    write_parquet_atomic(corpus.fs, f"{plan.staging}/runs/{name}-{seed}.parquet", pa.Table.from_pylist(rows, RUNS_SCHEMA))
    corpus.fs.rm(folder, recursive=True)


def _endless(stream, manifest: dict, root: Path):
    """The mixture's documents in its schedule's order, from the start again should the packed
    rows need more (the budget is met on average; a run of long draws can ask for a few more)."""
    while True:
        yield from stream(manifest, root=root)


def _eval_texts(plan: StagePlan) -> dict[str, list[str]]:
    table = pq.read_table(plan.corpus.fs.open(_eval_path(plan)), columns=["eval_set", "text"])
    sets: dict[str, list[str]] = {}
    for eval_set, text in zip(table["eval_set"].to_pylist(), table["text"].to_pylist(), strict=True):
        sets.setdefault(eval_set, []).append(text)
    return sets


def summarize_runs(plan: StagePlan) -> StageResult:
    config, corpus = plan.config, plan.corpus
    curves = pa.concat_tables(pq.read_table(corpus.fs.open(f"{plan.staging}/runs/{name}-{seed}.parquet"))
                              for name, seed in runs(plan))
    final = curves.filter(pc.equal(curves["step"], _last_steps(curves)))
    summary = summarize(final, list(config.arms))
    out = f"{plan.staging}/out"
    eval_sets = pq.read_table(corpus.fs.open(_eval_path(plan)), columns=["eval_set", "id", "text_md5"])
    for file, table in (("runs", final), ("curves", curves), ("summary", summary), ("eval_sets", eval_sets)):
        write_parquet_atomic(corpus.fs, f"{out}/{file}.parquet", table)
    from curation.trainer import model_settings

    document = {"name": config.name, "config": config.model_dump(mode="json"), "model": model_settings(config.model),
                "arms": {name: _arm(plan, name).label for name in config.arms}, "inputs": plan.inputs,
                "eval_sets": {"fingerprint": fingerprint(eval_sets["text_md5"].to_pylist()),
                              "documents": pc.value_counts(eval_sets["eval_set"]).to_pylist()}}
    write_bytes_atomic(corpus.fs, f"{out}/ablation.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
    corpus.publish(out, f"ablations/{config.name}")
    rows = summary.filter(pc.equal(summary["eval_set"], "all")).to_pylist()
    return StageResult(len(runs(plan)), len(runs(plan)), {"summary": rows})


def _last_steps(curves: pa.Table) -> pa.Array:
    """Each row's run's last step, so that the final evaluation of every run can be picked."""
    last = {}
    for arm, seed, step in zip(*(curves[c].to_pylist() for c in ("arm", "seed", "step")), strict=True):
        last[arm, seed] = max(step, last.get((arm, seed), 0))
    return pa.array([last[a, s] for a, s in zip(curves["arm"].to_pylist(), curves["seed"].to_pylist(), strict=True)])


STAGE = Stage(
    name="ablate",
    config=AblateConfig,
    writes=("ablations/{name}",),
    instance=_instance,
    check=_check,
    outside=_eval_files,
    extend=_with_arm_inputs,
    steps=(Step(draw_eval_sets), Step(train_arm, over=runs, unit="runs"), Step(summarize_runs)),
)
