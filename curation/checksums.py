"""Checksums of every part a stage wrote, kept in corpus.json when the stage is recorded, so a
part damaged later (a bad disk, a partial copy, a hand edit) is found and named.

    manifest["checksums"] = {"docs/part-00000.parquet": {"xxh64": "...", "size": 123}, ...}
    problems = verify(corpus)            # one line per damaged or missing part, with the remedy

xxHash64 of the whole file, and its size. ``verify`` (`curate verify DIR`) reads every part once.
"""

from __future__ import annotations

import xxhash

CHUNK = 8 << 20


def file_checksum(fs, path: str) -> dict:
    digest, size = xxhash.xxh64(), 0
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"xxh64": digest.hexdigest(), "size": size}


def table_checksums(corpus, tables: tuple[str, ...], known: dict[str, dict] | None = None) -> dict[str, dict]:
    """Checksums of every file a stage wrote in ``tables`` (parts, and the files of its model
    folders), keyed by their path in the corpus; those in ``known`` are taken from there."""
    known = known or {}
    found = {}
    for table in tables:
        folder = corpus.path(table)
        if corpus.fs.isdir(folder):
            for path in sorted(corpus.fs.find(folder)):
                relative = path[len(corpus.path("")):].lstrip("/")
                if not relative.rsplit("/", 1)[-1].startswith("."):
                    found[relative] = known.get(relative) or file_checksum(corpus.fs, path)
    return found


def remedy(path: str, writers: dict[str, str]) -> str:
    if path.split("/", 1)[0] in ("docs", "rejects"):
        return "restore it from a copy, or ingest the inputs again into a new corpus (documents are written only by ingest)"
    stage = next((name for table, name in writers.items() if path.startswith(f"{table}/")), path.split("/")[1])
    return f"run `curate forget DIR {stage}` and rerun that stage (`curate run` reruns what it forgot)"


def verify(corpus) -> list[str]:
    from curation.registry import table_writers

    writers = table_writers(corpus)
    problems = []
    for path, expected in sorted(corpus.manifest().get("checksums", {}).items()):
        full = corpus.path(path)
        if not corpus.fs.exists(full):
            problems.append(f"{path} is missing: {remedy(path, writers)}")
        elif file_checksum(corpus.fs, full) != expected:
            problems.append(f"{path} is damaged (its checksum differs from corpus.json): {remedy(path, writers)}")
    return problems
