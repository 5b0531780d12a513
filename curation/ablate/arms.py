"""What an ablation trains and tests on: its eval sets, drawn first, and each arm as a mixture
that leaves the eval sets' documents out (by id, and by text: an exact duplicate of an eval text
under another id would leak it).

    arm source   a selection (at natural weights over ``domain``), a mixture (its own weights and
                 schedule), or all (every document); selection:NAME and mixture:NAME say which
                 when both have the name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from curation.checksums import file_checksum
from curation.corpus import Corpus
from curation.duck import quote, sql_file
from curation.errors import UserError
from curation.fingerprint import fingerprint
from curation.mixture.plan import MixtureConfig, MixturePlan, plan_mixture
from curation.tokens import tokens_sql

ALL = "all"
KINDS = ("selection", "mixture")
EVAL_SCHEMA = pa.schema([("eval_set", pa.string()), ("id", pa.string()), ("text", pa.string()), ("text_md5", pa.string())])
EVAL_FILES = ("*.jsonl", "*.parquet")


@dataclass(frozen=True)
class Arm:
    name: str
    kind: str  # selection, mixture or all
    source: str  # the selection's or mixture's name

    @property
    def label(self) -> str:
        return ALL if self.kind == ALL else f"{self.kind} {self.source}"


def resolve(corpus: Corpus, name: str, source: str) -> Arm:
    """The arm ``name=source`` of the command line, or a clear error."""
    kind, sep, target = source.partition(":")
    if sep and kind in KINDS:
        candidates = [kind]
    else:
        if source == ALL:
            return Arm(name, ALL, "")
        target = source
        candidates = [k for k, names in (("selection", corpus.selections()), ("mixture", corpus.mixtures()))
                      if source in names]
        if len(candidates) > 1:
            raise UserError(f"arm {name}: {source} is a selection and a mixture; write selection:{source} or mixture:{source}")
    known = {"selection": corpus.selections(), "mixture": corpus.mixtures()}
    if not candidates or target not in known[candidates[0]]:
        names = ", ".join([ALL, *known["selection"], *known["mixture"]])
        raise UserError(f"arm {name}: no selection or mixture named {target!r} in {corpus.url} (there are: {names})")
    return Arm(name, candidates[0], target)


def arm_fingerprint(corpus: Corpus, arm: Arm) -> str:
    """Changes when what the arm's documents come from does: the selection's files, or the mixture's lineage."""
    if arm.kind == "selection":
        folder = corpus.path("selections", arm.source)
        return fingerprint([file_checksum(corpus.fs, path) for path in sorted(corpus.fs.find(folder))])
    if arm.kind == "mixture":
        return fingerprint(_manifest(corpus, arm.source)["lineage"])
    return ALL


def _manifest(corpus: Corpus, name: str) -> dict:
    return orjson.loads(corpus.fs.cat_file(corpus.path("mixtures", name, "manifest.json")))


def eval_sets(corpus: Corpus, where_or_folder: str | None, domain: str, size_bytes: int, seed: int) -> pa.Table:
    """eval_set, id, text, text_md5: from the corpus (a set per domain), or a folder of files."""
    if where_or_folder is not None and Path(where_or_folder).is_dir():
        return _eval_files(Path(where_or_folder))
    query = sql_file("ablation_eval_sets.sql", where=where_or_folder or "true", domain=domain, bytes=str(int(size_bytes)),
                     seed=quote(str(seed)))
    table = corpus.sql(query).cast(EVAL_SCHEMA)
    if not table.num_rows:
        raise UserError(f"no document passes --eval {where_or_folder}: the eval sets would be empty")
    return table


def _eval_files(folder: Path) -> pa.Table:
    """Each .jsonl or .parquet file of ``folder`` a set (named by its stem) of its rows' ``text``."""
    tables = []
    for path in sorted(p for pattern in EVAL_FILES for p in folder.glob(pattern)):
        if path.suffix == ".parquet":
            texts = pq.read_table(path, columns=["text"])["text"].to_pylist()
        else:
            texts = [orjson.loads(line)["text"] for line in path.read_bytes().splitlines() if line.strip()]
        texts = [t for t in texts if t]
        tables.append(pa.table({"eval_set": [path.stem] * len(texts), "id": [f"{path.stem}/{i}" for i in range(len(texts))],
                                "text": texts, "text_md5": [hashlib.md5(t.encode()).hexdigest() for t in texts]},
                               schema=EVAL_SCHEMA))
    if not tables or not sum(t.num_rows for t in tables):
        raise UserError(f"--eval {folder}: no .jsonl or .parquet file with texts in it")
    return pa.concat_tables(tables)


def mixture_config(corpus: Corpus, arm: Arm, domain: str, eval_uri: str, seed: int) -> MixtureConfig:
    """The arm's documents and schedule as a text mixture, the eval sets' documents left out."""
    left_out = (f"id NOT IN (SELECT id FROM read_parquet({quote(eval_uri)})) AND "
                f"md5(text) NOT IN (SELECT text_md5 FROM read_parquet({quote(eval_uri)}))")
    if arm.kind == "mixture":
        spec = _manifest(corpus, arm.source)["lineage"]["spec"]
        return MixtureConfig(**{**spec, "where": f"({spec['where']}) AND {left_out}", "format": "parquet", "tokens": None,
                                "max_epochs": None, "seed": seed})
    return MixtureConfig(selection=arm.source if arm.kind == "selection" else None, where=left_out, domain=domain, seed=seed)


def plan_arm(corpus: Corpus, arm: Arm, config: MixtureConfig, tokens: int, max_epochs: float) -> MixturePlan:
    """The arm's mixture with a budget of ``tokens`` of the trainer's (bytes), put in the tokens
    the mixture counts with; an arm with no documents left, or one the budget would repeat more
    than ``max_epochs``, is a user's mistake."""
    counted, _ = tokens_sql(corpus)
    size = corpus.sql(sql_file("ablation_arm_size.sql", documents=config.documents_sql(counted))).to_pylist()[0]
    if not size["documents"]:
        raise UserError(f"arm {arm.name} ({arm.label}): no documents left once the eval sets are left out")
    plan = plan_mixture(corpus, config.model_copy(update={"tokens": tokens * size["counted_tokens"] / size["model_tokens"]}))
    domain, epochs = max(plan.epochs.items(), key=lambda item: item[1])
    if epochs > max_epochs:
        raise UserError(f"arm {arm.name} ({arm.label}): {tokens:,} tokens repeat its domain {domain} {epochs:.1f} times, "
                        f"more than --max-epochs {max_epochs:g}; give fewer --tokens")
    return plan
