# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The heuristic rules' measurements (scorers/heuristics.py), compiled: each text is copied once
into a buffer of code points, then scanned for its words, lines and paragraphs, and its
lower-cased copy for its stop words and word n-grams, which are counted in an open-addressing
hash table instead of Python sets and numpy sorts (the Python version spent 90% of its time in
per-word and per-line Python calls).

Whitespace and letters are Python's own (``Py_UNICODE_ISSPACE`` is what ``str.split()``,
``str.strip()`` and the regex ``\\s`` use; ``Py_UNICODE_ISALPHA`` is ``str.isalpha``), so every
value equals what the per-document Python definition gives (tests/heuristics_reference.py).
Lines, paragraphs and n-grams are compared by 64-bit hashes, as the numpy version compared
n-grams: a collision (about one in 10^19 per pair) would count two different lines as equal.
"""

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

import numpy as np


cdef extern from "Python.h":
    Py_UCS4* PyUnicode_AsUCS4(object text, Py_UCS4* buffer, Py_ssize_t length, int copy_null) except NULL
    bint Py_UNICODE_ISSPACE(Py_UCS4 c)
    bint Py_UNICODE_ISALPHA(Py_UCS4 c)


cdef uint64_t MULTIPLIER = 0x9E3779B97F4A7C15ULL
INTEGERS = ("words", "stop_words", "c4_sentences")
FLOATS = ("avg_word_length", "symbol_word_ratio", "bullet_lines_ratio", "ellipsis_lines_ratio",
          "alpha_words_ratio", "dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
          "top_2gram_frac", "top_3gram_frac", "top_4gram_frac", "dup_5gram_frac", "dup_6gram_frac",
          "dup_7gram_frac", "dup_8gram_frac", "dup_9gram_frac", "dup_10gram_frac", "c4_lines_kept_ratio",
          "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "newline_ratio")


# What str.isspace, str.isalpha and str.isalnum say of each ASCII character, as bits.
cdef unsigned char[128] ASCII
cdef enum:
    SPACE = 1
    LETTER = 2
    ALPHANUMERIC = 4
for code in range(128):
    ASCII[code] = (SPACE * chr(code).isspace() | LETTER * chr(code).isalpha()
                   | ALPHANUMERIC * chr(code).isalnum())


cdef inline bint space(Py_UCS4 c):
    return (ASCII[c] & SPACE) if c < 128 else Py_UNICODE_ISSPACE(c)


cdef inline bint letter(Py_UCS4 c):
    return (ASCII[c] & LETTER) if c < 128 else Py_UNICODE_ISALPHA(c)


cdef inline Py_ssize_t skip_space(const Py_UCS4* text, Py_ssize_t i, Py_ssize_t end):
    while i < end and space(text[i]):
        i += 1
    return i


cdef inline Py_ssize_t skip_word(const Py_UCS4* text, Py_ssize_t i, Py_ssize_t end):
    while i < end and not space(text[i]):
        i += 1
    return i


cdef inline bint ascii_punctuation(Py_UCS4 c):
    """``PUNCTUATION`` of scorers/heuristics.py: ASCII that is neither alphanumeric nor space."""
    return c < 128 and not (ASCII[c] & (SPACE | ALPHANUMERIC))


cdef inline uint64_t span_hash(const Py_UCS4* text, Py_ssize_t start, Py_ssize_t end):
    """FNV-1a over the code points, finished by splitmix64's mixer (FNV alone leaves short
    words' hashes close together, which an open-addressing table punishes)."""
    cdef uint64_t h = 0xCBF29CE484222325ULL ^ <uint64_t>(end - start)
    cdef Py_ssize_t i
    for i in range(start, end):
        h = (h ^ <uint64_t>text[i]) * 0x100000001B3ULL
    h ^= h >> 30
    h *= 0xBF58476D1CE4E5B9ULL
    h ^= h >> 27
    h *= 0x94D049BB133111EBULL
    return h ^ (h >> 31)


cdef uint64_t packed(const Py_UCS4* text, Py_ssize_t a, Py_ssize_t b):
    """text[a:b] as its code points in 8-bit lanes, if it is 1-8 ASCII characters; else 0."""
    cdef uint64_t value = 0
    cdef Py_ssize_t i
    if b - a < 1 or b - a > 8:
        return 0
    for i in range(a, b):
        if text[i] >= 128:
            return 0
        value |= (<uint64_t>text[i]) << (8 * (i - a))
    return value


cdef uint64_t pack(str word):
    cdef Py_UCS4[8] codes
    cdef Py_ssize_t i
    if len(word) > 8:
        return 0
    for i in range(len(word)):
        codes[i] = word[i]
    return packed(codes, 0, len(word))


cdef inline bint among(uint64_t value, const uint64_t[::1] values):
    cdef Py_ssize_t i
    for i in range(values.shape[0]):
        if values[i] == value:
            return True
    return False


cdef struct Slot:
    uint64_t key
    int32_t count
    int32_t first
    uint32_t generation


cdef class Seen:
    """A set of 64-bit keys with a count and first position each, emptied in O(1) by moving to
    a new generation rather than by clearing."""

    cdef object storage
    cdef Slot* slots
    cdef uint32_t current
    cdef Py_ssize_t mask

    def __init__(self):
        self.allocate(1024)

    cdef allocate(self, Py_ssize_t size):
        self.storage = np.zeros(size * sizeof(Slot), dtype=np.uint8)
        cdef unsigned char[::1] raw = self.storage
        self.slots = <Slot*>&raw[0]
        self.current, self.mask = 0, size - 1

    cdef reset(self, Py_ssize_t items):
        """Empty, with room for ``items`` keys at a load of at most one half."""
        cdef Py_ssize_t size = self.mask + 1
        while size < 2 * items:
            size *= 2
        if size != self.mask + 1:
            self.allocate(size)
        self.current += 1

    cdef inline Slot* add(self, uint64_t key, int32_t position):
        """The key's slot, its count raised by one (its first position kept from the first add)."""
        cdef Py_ssize_t index = <Py_ssize_t>(key & <uint64_t>self.mask)
        cdef Slot* slot = &self.slots[index]
        while slot.generation == self.current:
            if slot.key == key:
                slot.count += 1
                return slot
            index = (index + 1) & self.mask
            slot = &self.slots[index]
        slot.generation, slot.key, slot.count, slot.first = self.current, key, 1, position
        return slot


cdef class Words:
    """One lower-cased text's words: their hashes, lengths and cumulative lengths, and the
    hashes of the n-grams starting at each word (grown from the (n-1)-grams')."""

    cdef uint64_t[::1] ids, grams
    cdef int64_t[::1] lengths, ends
    cdef Py_ssize_t count
    cdef int n

    def __init__(self):
        self.grow(1024)

    cdef grow(self, Py_ssize_t size):
        self.ids, self.grams = np.zeros(size, dtype=np.uint64), np.zeros(size, dtype=np.uint64)
        self.lengths, self.ends = np.zeros(size, dtype=np.int64), np.zeros(size + 1, dtype=np.int64)

    cdef int fill(self, const Py_UCS4* lowered, Py_ssize_t n, const uint64_t[::1] stop_list):
        """Hash every word of ``lowered``; returns how many are in ``stop_list`` once stripped
        of punctuation (stop words as ``packed`` integers)."""
        cdef Py_ssize_t i = 0, start, a, b
        cdef int stop_words = 0
        if n // 2 + 1 > self.ids.shape[0]:  # a text has at most (n + 1) / 2 words
            self.grow(n // 2 + 1)
        self.count, self.n = 0, 0
        i = skip_space(lowered, 0, n)
        while i < n:
            start, i = i, skip_word(lowered, i, n)
            self.ids[self.count] = span_hash(lowered, start, i)
            self.lengths[self.count] = i - start
            self.ends[self.count + 1] = self.ends[self.count] + i - start
            self.count += 1
            a, b = start, i
            while a < b and ascii_punctuation(lowered[a]):
                a += 1
            while b > a and ascii_punctuation(lowered[b - 1]):
                b -= 1
            if among(packed(lowered, a, b), stop_list):
                stop_words += 1
            i = skip_space(lowered, i, n)
        return stop_words

    cdef Py_ssize_t next_grams(self):
        """Turn the n-gram hashes into the (n+1)-grams' (called for n = 1, 2, ... in order);
        returns how many there are."""
        cdef Py_ssize_t grams = self.count - self.n, i
        for i in range(max(grams, 0)):
            self.grams[i] = (self.grams[i] * MULTIPLIER if self.n else 0) + self.ids[i + self.n]
        self.n += 1
        return grams

    cdef double top_share(self, Seen seen):
        """Of the next n-gram size: characters of the most frequent n-gram (the earliest on
        ties), times its count, over the characters of all words."""
        cdef Py_ssize_t grams = self.next_grams(), i
        cdef int32_t best = 0, start = 0
        cdef Slot* slot
        if grams <= 0:
            return 0.0
        seen.reset(grams)
        for i in range(grams):
            slot = seen.add(self.grams[i], <int32_t>i)
            if slot.count > best or (slot.count == best and slot.first < start):
                best, start = slot.count, slot.first
        if best <= 1:
            return 0.0
        return <double>((self.ends[start + self.n] - self.ends[start]) * best) / <double>max(self.ends[self.count], 1)

    cdef double duplicated_share(self, Seen seen):
        """Of the next n-gram size: characters of words inside an n-gram seen earlier in the
        text, over all characters."""
        cdef Py_ssize_t grams = self.next_grams(), i, w, covered_end = 0
        cdef int64_t covered = 0
        if grams <= 0 or self.ends[self.count] == 0:
            return 0.0
        seen.reset(grams)
        for i in range(grams):
            if seen.add(self.grams[i], <int32_t>i).count > 1:
                for w in range(max(i, covered_end), i + self.n):
                    covered += self.lengths[w]
                covered_end = i + self.n
        return <double>covered / <double>self.ends[self.count]


cdef inline Py_ssize_t sentence_ends(const Py_UCS4* text, Py_ssize_t start, Py_ssize_t end):
    """Sentence ends in text[start:end] as C4 counts them: runs of . ! ? followed by whitespace
    or the end (the regex ``[.!?]+(?:\\s|$)``)."""
    cdef Py_ssize_t i, ends = 0
    cdef Py_UCS4 c
    for i in range(start, end):
        c = text[i]
        if (c == u'.' or c == u'!' or c == u'?') and (i + 1 == end or space(text[i + 1])):
            ends += 1
    return ends


cdef class Kernel:
    cdef Seen seen
    cdef Words words
    cdef uint32_t[::1] text, lowered
    cdef uint64_t[::1] terminal, stop_list  # code points; packed words
    cdef int short_line_length, min_words_per_line, max_word_length

    def __init__(self, str terminal, stop_words, int short_line_length, int min_words_per_line, int max_word_length):
        """``terminal``: the characters that end a sentence's line; ``stop_words``: ASCII words."""
        self.seen, self.words = Seen(), Words()
        self.text, self.lowered = np.zeros(4096, dtype=np.uint32), np.zeros(4096, dtype=np.uint32)
        self.terminal = np.array([ord(c) for c in terminal], dtype=np.uint64)
        self.stop_list = np.array([pack(word) for word in stop_words], dtype=np.uint64)
        self.short_line_length = short_line_length
        self.min_words_per_line, self.max_word_length = min_words_per_line, max_word_length

    cdef uint32_t[::1] fill(self, uint32_t[::1] buffer, str text):
        """``text``'s code points in ``buffer`` (or a larger one, returned)."""
        if len(text) + 1 > buffer.shape[0]:
            buffer = np.zeros(2 * len(text) + 1, dtype=np.uint32)
        PyUnicode_AsUCS4(text, <Py_UCS4*>&buffer[0], buffer.shape[0], 1)
        return buffer

    def measure(self, list texts, list lowered, list banned_lines):
        """Every measured value of every text, as numpy arrays by name. ``lowered`` holds each
        text's ``str.lower()``; ``banned_lines`` each text's set of line numbers that C4 drops
        for a phrase (javascript, cookie and policy notices), or None."""
        cdef Py_ssize_t count = len(texts), d
        cdef int64_t[:, ::1] integers = np.zeros((len(INTEGERS), count), dtype=np.int64)
        cdef double[:, ::1] floats = np.zeros((len(FLOATS), count), dtype=np.float64)
        for d in range(count):
            self.text, self.lowered = self.fill(self.text, texts[d]), self.fill(self.lowered, lowered[d])
            self.one(len(texts[d]), len(lowered[d]), banned_lines[d], integers[:, d], floats[:, d])
        return ({name: np.asarray(integers[row]) for row, name in enumerate(INTEGERS)}
                | {name: np.asarray(floats[row]) for row, name in enumerate(FLOATS)})

    cdef one(self, Py_ssize_t n, Py_ssize_t lowered_length, object banned, int64_t[:] integers, double[:] out):
        cdef const Py_UCS4* text = <Py_UCS4*>&self.text[0]
        cdef Py_ssize_t i = 0, start, end, a, b, line = 0, w, breaks
        cdef Py_ssize_t words = 0, alpha_words = 0, alpha_chars = 0, newlines = 0, symbols = 0
        cdef Py_ssize_t non_empty = 0, bullets = 0, ellipses = 0, punctuated = 0, short = 0, c4_kept = 0
        cdef Py_ssize_t c4_sentences = 0, dup_lines = 0, dup_line_chars = 0, line_words, longest
        cdef Py_ssize_t paragraphs = 0, dup_paras = 0, dup_para_chars = 0
        cdef bint ends_sentence
        cdef Py_UCS4 c
        # Words; '#', '...' (not overlapping, as str.count) and the ellipsis character; newlines.
        while i < n:
            c = text[i]
            if c == u'\n':
                newlines += 1
            elif c == u'#' or c == u'\u2026':
                symbols += 1
            elif c == u'.' and i + 2 < n and text[i + 1] == u'.' and text[i + 2] == u'.':
                symbols += 1
                i += 2
            i += 1
        i = skip_space(text, 0, n)
        while i < n:
            start, i = i, skip_word(text, i, n)
            words += 1
            for w in range(start, i):
                if letter(text[w]):
                    alpha_words += 1
                    alpha_chars += i - start
                    break
            i = skip_space(text, i, n)
        # Lines, each stripped; the empty ones skipped.
        self.seen.reset(newlines + 1)
        start = 0
        while start <= n:
            end = start
            while end < n and text[end] != u'\n':
                end += 1
            a, b = start, end
            while a < b and space(text[a]):
                a += 1
            while b > a and space(text[b - 1]):
                b -= 1
            if b > a:
                non_empty += 1
                c = text[b - 1]
                bullets += text[a] == u'\u2022' or text[a] == u'-' or text[a] == u'*'
                ellipses += c == u'\u2026' or (b - a >= 3 and c == text[b - 2] == text[b - 3] == u'.')
                ends_sentence = among(c, self.terminal)
                punctuated += ends_sentence
                short += b - a <= self.short_line_length
                if self.seen.add(span_hash(text, a, b), 0).count > 1:
                    dup_lines += 1
                    dup_line_chars += b - a
                if ends_sentence and (banned is None or line not in banned):
                    line_words, longest, w = 0, 0, a  # the line is stripped: it starts with a word
                    while w < b:
                        i = skip_word(text, w, b)
                        line_words += 1
                        longest = max(longest, i - w)
                        w = skip_space(text, i, b)
                    if line_words >= self.min_words_per_line and longest <= self.max_word_length:
                        c4_kept += 1
                        c4_sentences += sentence_ends(text, a, b)
            line += 1
            start = end + 1
        # Paragraphs: split where whitespace holds two or more newlines (r"\n\s*\n"), stripped.
        self.seen.reset(newlines // 2 + 1)
        i, a, b = 0, -1, -1
        while True:
            breaks = 0
            while i < n and space(text[i]):
                breaks += text[i] == u'\n'
                i += 1
            if (breaks >= 2 or i == n) and a >= 0:
                paragraphs += 1
                if self.seen.add(span_hash(text, a, b), 0).count > 1:
                    dup_paras += 1
                    dup_para_chars += b - a
                a = -1
            if i == n:
                break
            if a < 0:
                a = i
            while i < n and not space(text[i]):
                i += 1
            b = i
        integers[0], integers[2] = words, c4_sentences
        integers[1] = self.words.fill(<Py_UCS4*>&self.lowered[0], lowered_length, self.stop_list)
        cdef double n_words = max(words, 1), chars = max(n, 1), lines = max(non_empty, 1)
        out[0] = <double>alpha_chars / alpha_words if alpha_words else 0.0
        out[1] = symbols / n_words
        out[2] = bullets / lines
        out[3] = ellipses / lines
        out[4] = alpha_words / n_words
        out[5] = dup_lines / lines
        out[6] = <double>dup_paras / max(paragraphs, 1)
        out[7] = dup_line_chars / chars
        out[8] = dup_para_chars / chars
        self.words.next_grams()  # the 1-grams
        for i in range(3):  # 2- to 4-grams
            out[9 + i] = self.words.top_share(self.seen)
        for i in range(6):  # 5- to 10-grams
            out[12 + i] = self.words.duplicated_share(self.seen)
        out[18] = c4_kept / lines
        out[19] = punctuated / lines
        out[20] = short / lines
        out[21] = <double>dup_line_chars / max(n - newlines, 1)
        out[22] = newlines / n_words
