"""Labelled text for measuring scorers offline.

``locale_sample`` builds a language-id test set from the translated messages that Debian
packages install under /usr/share/locale: each document joins a few translated strings of one
catalogue, labelled by the catalogue's language (strings left untranslated are skipped).
"""

from __future__ import annotations

import gettext
import random
from pathlib import Path

LOCALES = {"de": "de", "fr": "fr", "es": "es", "it": "it", "pt_BR": "pt", "ru": "ru", "ja": "ja", "zh_CN": "zh",
           "pl": "pl", "nl": "nl", "sv": "sv", "cs": "cs", "uk": "uk", "tr": "tr", "fi": "fi"}


def locale_sample(per_language: int = 50, strings_per_doc: int = 4, seed: int = 0,
                  root: Path = Path("/usr/share/locale")) -> list[tuple[str, str]]:
    """(text, language) pairs, ``per_language`` of each language that has catalogues here."""
    rng = random.Random(seed)
    sample = []
    for directory, language in LOCALES.items():
        strings = []
        for catalogue in sorted((root / directory / "LC_MESSAGES").glob("*.mo")):
            try:
                with open(catalogue, "rb") as handle:
                    messages = gettext.GNUTranslations(handle)._catalog
            except (OSError, UnicodeDecodeError):  # a catalogue gettext cannot read
                continue
            strings += [str(text) for key, text in messages.items()
                        if isinstance(key, str) and key and text != key and len(str(text)) >= 20]
        rng.shuffle(strings)
        for i in range(min(per_language, len(strings) // strings_per_doc)):
            sample.append((" ".join(strings[i * strings_per_doc : (i + 1) * strings_per_doc]), language))
    return sample
