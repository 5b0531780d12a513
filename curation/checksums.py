"""Checksums of every part a stage wrote, kept in corpus.json when the stage is recorded, so a
part damaged later (a bad disk, a partial copy, a hand edit) is found and named.

    manifest["checksums"] = {"docs/part-00000.parquet": {"xxh64": "...", "size": 123}, ...}
    problems = verify(corpus)            # one line per damaged or missing part, with the remedy

xxHash64 of the whole file, and its size. ``verify`` (`curate verify DIR`) reads every part once.
"""

from __future__ import annotations

import xxhash

CHUNK = 8 << 20
# What each stage writes; every other stage writes attrs/<its name>.
STAGE_TABLES = {"ingest": ("docs", "rejects"), "embed": ("embeddings",)}


def stage_tables(stage: str) -> tuple[str, ...]:
    return STAGE_TABLES.get(stage, (f"attrs/{stage}",))


def file_checksum(fs, path: str) -> dict:
    digest, size = xxhash.xxh64(), 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"xxh64": digest.hexdigest(), "size": size}


def stage_checksums(corpus, stage: str) -> dict[str, dict]:
    """Checksums of the parts ``stage`` wrote, keyed by their path in the corpus."""
    return {f"{table}/{part}.parquet": file_checksum(corpus.fs, corpus.part_path(table, part))
            for table in stage_tables(stage) for part in corpus.parts(table)}


def remedy(path: str) -> str:
    table = path.rsplit("/", 1)[0]
    if table in ("docs", "rejects"):
        return "restore it from a copy, or ingest the inputs again into a new corpus (documents are written only by ingest)"
    stage = next((s for s, tables in STAGE_TABLES.items() if table in tables), table.removeprefix("attrs/"))
    return f"run `curate forget DIR {stage}` and rerun that stage (`curate run` reruns what it forgot)"


def verify(corpus) -> list[str]:
    problems = []
    for path, expected in sorted(corpus.manifest().get("checksums", {}).items()):
        full = corpus.path(path)
        if not corpus.fs.exists(full):
            problems.append(f"{path} is missing: {remedy(path)}")
        elif file_checksum(corpus.fs, full) != expected:
            problems.append(f"{path} is damaged (its checksum differs from corpus.json): {remedy(path)}")
    return problems


def output_checksums(corpus) -> dict[str, dict]:
    """Every output of the corpus: the recorded parts (verified first) and the files of its
    selections and mixtures. Two runs that made the same corpus give equal maps."""
    problems = verify(corpus)
    if problems:
        raise ValueError("; ".join(problems))
    outputs = dict(corpus.manifest().get("checksums", {}))
    for folder in ("selections", "mixtures"):
        root = corpus.path(folder)
        if corpus.fs.isdir(root):
            for path in sorted(corpus.fs.find(root)):
                relative = path[len(corpus.path("")) :].lstrip("/")
                if not relative.split("/")[1].startswith("."):
                    outputs[relative] = file_checksum(corpus.fs, path)
    return outputs
