"""One answer, for every module, to: is this fsspec filesystem local, and how is a path on it
written as a URL that DuckDB, pyarrow and fsspec all accept."""

from __future__ import annotations


def protocol(fs) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def is_local(fs) -> bool:
    return protocol(fs) in ("file", "local")


def url(fs, path: str) -> str:
    """Plain for local files (what DuckDB and open() expect), ``protocol://path`` otherwise."""
    return path if is_local(fs) else f"{protocol(fs)}://{path}"
