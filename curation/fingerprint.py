"""Stable fingerprints of configurations and inputs, so reruns can skip finished work."""

import hashlib

import orjson


def fingerprint(value) -> str:
    """A short hex digest of any JSON-serialisable value, independent of dict key order."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(data).hexdigest()[:16]
