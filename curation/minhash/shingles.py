"""Word n-gram shingles of many documents at once, as 64-bit hashes, without a per-word loop.

Normalisation follows datatrove/FineWeb (Penedo et al. 2024, arXiv:2406.17557): lower case,
punctuation and symbols become spaces, runs of whitespace collapse, diacritics are removed.
Digits are kept: FineWeb turns each into "0", and on the web-like planted corpus of
benchmarks/dedup.py --web that made pages differing only in their numbers (part lists, logs,
tables) near-duplicates, removing unique documents, and shrank numeric pages to a few shingles,
splitting true pairs. ASCII documents go through one ``bytes.translate``; others through NFKD
and a Unicode table.

Words are then found, hashed and combined into n-grams with numpy over the bytes of a whole
batch. A document with fewer words than n gets one shingle made of all its words (so short
identical texts still match); a document with no words gets none.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa

SPACE = ord(" ")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: invertible mod 2**64


def _ascii_table() -> bytes:
    table = bytearray(range(256))
    for byte in range(128):
        char = chr(byte)
        if char.isalpha():
            table[byte] = ord(char.lower())
        elif not char.isdigit() and byte != ord("_"):
            table[byte] = SPACE  # punctuation, symbols, whitespace, control characters
    return bytes(table)


ASCII_TABLE = _ascii_table()


@lru_cache(maxsize=1)
def _unicode_table() -> dict[int, int | None]:
    """Combining marks vanish (diacritics, after NFKD); punctuation, symbols, separators and
    control characters become spaces. Every other character of the Basic
    Multilingual Plane maps to itself: str.translate is much slower on a missing key."""
    table: dict[int, int | None] = {code: code for code in range(0x10000)}
    # The Basic Multilingual Plane and the emoji and symbol blocks: building a table of all
    # 1.1 million code points would cost every worker half a second.
    for code in (*range(0x10000), *range(0x1F000, 0x1FB00)):
        category = unicodedata.category(chr(code))
        if category == "Mn":
            table[code] = None
        elif (category[0] in "PSZ" or category in ("Cc", "Cf")) and chr(code) != "_":
            table[code] = SPACE
    return table


def normalized_bytes(text: bytes) -> bytes:
    if text.isascii():
        return text.translate(ASCII_TABLE)
    decomposed = unicodedata.normalize("NFKD", text.decode("utf-8").lower())
    return decomposed.translate(_unicode_table()).encode("utf-8")


def mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the output, in place."""
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


def shingle_hashes(texts: pa.Array, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, offsets): the shingles of document i are ``hashes[offsets[i]:offsets[i + 1]]``."""
    docs = [normalized_bytes(raw) for raw in texts.cast(pa.binary()).to_pylist()]
    # Documents joined by one space: no word ever spans two documents.
    data = np.frombuffer(b" ".join(docs) + b" ", dtype=np.uint8)
    starts_of_docs = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([len(d) + 1 for d in docs], out=starts_of_docs[1:])

    is_word = data != SPACE
    edges = np.diff(is_word.astype(np.int8), prepend=np.int8(0))
    word_starts = np.flatnonzero(edges == 1)
    word_ends = np.flatnonzero(np.diff(is_word.astype(np.int8), append=np.int8(0)) == -1) + 1
    word_docs = np.searchsorted(starts_of_docs, word_starts, side="right") - 1
    words_per_doc = np.bincount(word_docs, minlength=len(docs))

    with np.errstate(over="ignore"):
        word_hashes = _word_hashes(data, word_starts, word_ends)
        return _ngrams(word_hashes, words_per_doc, ngram)


def _word_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Hash of each word from its bytes read 8 at a time as little-endian integers (most words
    fit in one read), so the work grows with the number of words, not of bytes."""
    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    # The 8 bytes starting at every offset, as one uint64 each (an overlapping, unaligned view).
    eight_bytes = np.ndarray((len(data),), dtype=np.uint64, buffer=padded.data, strides=(1,))
    lengths = ends - starts
    hashes = lengths.astype(np.uint64)
    chunk = 0
    todo = np.arange(len(starts))
    while len(todo):
        valid = np.minimum(lengths[todo] - 8 * chunk, 8).astype(np.uint64)
        packed = eight_bytes[starts[todo] + 8 * chunk]
        mask = np.where(valid >= 8, np.uint64(0xFFFFFFFFFFFFFFFF), (np.uint64(1) << (valid * np.uint64(8))) - np.uint64(1))
        hashes[todo] = mix64(hashes[todo] * _MULTIPLIER + (packed & mask))
        chunk += 1
        todo = todo[lengths[todo] > 8 * chunk]
    return hashes


def _ngrams(word_hashes: np.ndarray, words_per_doc: np.ndarray, ngram: int) -> tuple[np.ndarray, np.ndarray]:
    word_offsets = np.zeros(len(words_per_doc) + 1, dtype=np.int64)
    np.cumsum(words_per_doc, out=word_offsets[1:])
    shingles_per_doc = np.where(words_per_doc >= ngram, words_per_doc - ngram + 1, np.minimum(words_per_doc, 1))
    offsets = np.zeros(len(words_per_doc) + 1, dtype=np.int64)
    np.cumsum(shingles_per_doc, out=offsets[1:])

    # Every window of n consecutive words; windows that cross a document boundary are dropped.
    count = max(len(word_hashes) - ngram + 1, 0)
    combined = np.zeros(count, dtype=np.uint64)
    for k in range(ngram):
        combined = mix64(combined * _MULTIPLIER + word_hashes[k : k + count])
    window_docs = np.repeat(np.arange(len(words_per_doc)), words_per_doc)[:count]
    inside = np.arange(count) + ngram <= word_offsets[window_docs + 1]
    hashes = np.empty(offsets[-1], dtype=np.uint64)
    long_docs = words_per_doc >= ngram
    hashes[np.repeat(long_docs, shingles_per_doc)] = combined[inside]

    # Short documents: one shingle of all their words, combined the same way.
    for doc in np.flatnonzero(~long_docs & (words_per_doc > 0)):
        combined_short = np.zeros(1, dtype=np.uint64)
        for value in word_hashes[word_offsets[doc] : word_offsets[doc + 1]]:
            combined_short = mix64(combined_short * _MULTIPLIER + value)
        hashes[offsets[doc]] = combined_short[0]
    return hashes, offsets
