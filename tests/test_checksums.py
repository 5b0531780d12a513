"""Parts are checksummed in corpus.json when their stage is recorded: `curate verify` names a
damaged or missing part and the remedy, reading a damaged part fails with its name, and forgetting
the stage and rerunning it restores what was recorded."""

from __future__ import annotations

import orjson
import pytest
from conftest import stdlib_texts, write_jsonl

from curation import Corpus
from curation.cli import main
from curation.errors import UserError
from curation.exact_dedup import ExactDedupConfig
from curation.ingest.stage import IngestConfig
from curation.ingest.units import InputSpec
from curation.stage import run


def test_damage_is_found_named_and_repaired(tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", [{"text": t} for _, t in stdlib_texts(60)])
    corpus_dir = str(tmp_path / "c")
    run(corpus_dir, IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=20))
    run(corpus_dir, ExactDedupConfig())
    checksums = orjson.loads((tmp_path / "c" / "corpus.json").read_bytes())["checksums"]
    assert {"docs/part-00000.parquet", "docs/part-00002.parquet", "attrs/exact_dedup/part-00001.parquet"} <= set(checksums)
    assert main(["verify", corpus_dir]) == 0

    part = tmp_path / "c" / "attrs" / "exact_dedup" / "part-00001.parquet"
    recorded = part.read_bytes()
    part.write_bytes(recorded[: len(recorded) // 2])  # a partial copy
    capsys.readouterr()
    assert main(["verify", corpus_dir]) == 1
    error = capsys.readouterr().err
    assert "attrs/exact_dedup/part-00001.parquet is damaged" in error and f"curate forget {corpus_dir} exact_dedup" in error
    with pytest.raises(UserError, match="attrs/exact_dedup/part-00001.parquet .* cannot be read"):
        Corpus.open(corpus_dir).read_part("attrs/exact_dedup", "part-00001")

    (tmp_path / "c" / "docs" / "part-00002.parquet").unlink()
    assert main(["verify", corpus_dir]) == 1
    assert "docs/part-00002.parquet is missing: restore it" in capsys.readouterr().err

    # The documents restored from a copy, the attrs redone: all as recorded again.
    assert main(["forget", corpus_dir, "exact_dedup"]) == 0
    run(str(tmp_path / "again"), IngestConfig(inputs=[InputSpec(str(tmp_path / "in.jsonl"))], shard_size=20))
    (tmp_path / "c" / "docs" / "part-00002.parquet").write_bytes((tmp_path / "again" / "docs" / "part-00002.parquet").read_bytes())
    run(corpus_dir, ExactDedupConfig())
    assert part.read_bytes() == recorded and main(["verify", corpus_dir]) == 0
    assert main(["forget", corpus_dir, "no_such_stage"]) == 2
