"""One raw record in, one document or one reject out: every check ingest promises lives here."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import orjson

from curation.ingest import reasons
from curation.ingest.readers import RawRecord, excerpt
from curation.ingest.units import IngestUnit


@dataclass(slots=True)
class Document:
    id: str
    text: str
    url: str | None
    domain: str | None
    meta: str


@dataclass(slots=True)
class Reject:
    file: str
    position: int
    reason: str
    detail: str | None
    excerpt: str | None


class DocumentBuilder:
    """Validates and normalises records of one unit. Ids repeated inside the unit are rejected
    here; ids repeated across units are found when the units are put together."""

    def __init__(self, unit: IngestUnit, max_doc_bytes: int):
        self.unit = unit
        self.max_doc_bytes = max_doc_bytes
        self.seen_ids: set[str] = set()
        self.file_names: dict[str, str] = {}

    def build(self, record: RawRecord) -> Document | Reject:
        if record.reason is not None:
            return self._reject(record, record.reason, record.detail)
        fields = record.value  # a fresh dict from the reader: taken apart in place
        if not isinstance(fields, dict):
            return self._reject(record, reasons.NOT_AN_OBJECT, f"a JSON {type(fields).__name__}, not an object")
        text_field = self.unit.text_field
        if text_field not in fields:
            return self._reject(record, reasons.MISSING_TEXT, f"no field {text_field!r}")
        text = fields[text_field]
        if text is None:
            return self._reject(record, reasons.NULL_TEXT, f"{text_field!r} is null")
        if not isinstance(text, str):
            return self._reject(record, reasons.NON_STRING_TEXT, f"{text_field!r} is of type {type(text).__name__}")
        if not text or text.isspace():  # isspace, unlike strip, copies nothing
            return self._reject(record, reasons.EMPTY_TEXT, f"{text_field!r} is empty or whitespace")
        # len() bounds the UTF-8 size from below (1 byte a character) and above (4), so most
        # documents never need encoding just to be measured.
        if len(text) * 4 > self.max_doc_bytes:
            size = len(text.encode("utf-8", errors="surrogatepass"))
            if size > self.max_doc_bytes:
                return self._reject(record, reasons.TOO_LARGE, f"{size} bytes of text (limit {self.max_doc_bytes})")
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)

        doc_id = self._document_id(fields.get(self.unit.id_field), record)
        if isinstance(doc_id, Reject):
            return doc_id
        if doc_id in self.seen_ids:
            return self._reject(record, reasons.DUPLICATE_ID, f"id {doc_id!r} already seen in this input")
        self.seen_ids.add(doc_id)

        del fields[text_field]
        fields.pop(self.unit.id_field, None)
        url = fields.pop("url") if isinstance(fields.get("url"), str) else None
        domain = self.unit.domain
        if domain is None and isinstance(fields.get("domain"), str):
            domain = fields.pop("domain")
        meta = orjson.dumps(fields, default=str).decode() if fields else "{}"
        return Document(doc_id, text, url, domain, meta)

    def _document_id(self, value, record: RawRecord) -> str | Reject:
        if value is None:
            return f"{self.unit.source}/{self._file_name(record.file)}:{record.position}"
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return self._reject(record, reasons.BAD_ID, f"id is a {type(value).__name__}, not a string or integer")
        doc_id = str(value)
        if not doc_id.strip():
            return self._reject(record, reasons.BAD_ID, "id is empty")
        return doc_id

    def _file_name(self, file: str) -> str:
        name = self.file_names.get(file)
        if name is None:
            root = self.unit.root
            name = file[len(root) :].lstrip("/") if root and file.startswith(root) else file.rsplit("/", 1)[-1]
            self.file_names[file] = name
        return name

    def _reject(self, record: RawRecord, reason: str, detail: str | None) -> Reject:
        raw = record.raw if record.raw is not None else record.value
        return Reject(record.file, record.position, reason, detail, excerpt(raw))
