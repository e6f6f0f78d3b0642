"""Table storage's key and size rules: escaped keys, and long texts split across rows.

Keys may not hold `/ \\ # ?` or control characters (U+0000-001F, U+007F-009F) and are at most
1 KiB; a string property holds at most 64 KiB (32K UTF-16 units) and an entity at most 1 MiB.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Texts are JSON with ensure_ascii, so one character is one UTF-16 unit (2 bytes).
CHUNK_CHARS = 30_000
# 12 properties of 60 KB stay well under the 1 MiB entity limit.
CHUNKS_PER_ROW = 12
ROW_CHARS = CHUNK_CHARS * CHUNKS_PER_ROW
OVERFLOW_MARK = "+"
# Room for a prefix on escaped ids; Durable's own instance ids are at most 256 characters.
MAX_KEY_CHARS = 400

_FORBIDDEN = re.compile(r"[/\\#?%\x00-\x1f\x7f-\x9f+]")
_ESCAPED = re.compile(r"%([0-9A-F]{2})")


def escape_key(value: str) -> str:
    """A key made legal by %XX-escaping forbidden characters (and `%` and `+`, so that it can
    be reversed and our overflow mark never appears in an escaped id); too long → hashed."""
    escaped = _FORBIDDEN.sub(lambda m: f"%{ord(m.group(0)):02X}", value)
    if len(escaped) > MAX_KEY_CHARS:
        digest = hashlib.sha256(value.encode()).hexdigest()
        escaped = f"{escaped[:200]}~{digest}"
    return escaped


def unescape_key(key: str) -> str:
    """The value `escape_key` made `key` from (hashed keys are not reversible: read the id
    from the row instead)."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), key)


def pack(partition: str, row_key: str, text: str, columns: Mapping[str, Any] = {}) -> list[dict]:
    """`text` as entities: the first under `row_key` (with `columns` and the number of rows),
    the rest under `row_key+NNN`, each holding up to CHUNKS_PER_ROW properties D0, D1, ..."""
    pieces = [text[i : i + ROW_CHARS] for i in range(0, len(text), ROW_CHARS)] or [""]
    rows = []
    for number, piece in enumerate(pieces):
        key = row_key if number == 0 else overflow_key(row_key, number)
        row: dict[str, Any] = {"PartitionKey": partition, "RowKey": key}
        if number == 0:
            row.update(columns)
            row["Rows"] = len(pieces)
        chunks = [piece[i : i + CHUNK_CHARS] for i in range(0, len(piece), CHUNK_CHARS)]
        for index, chunk in enumerate(chunks or [""]):
            row[f"D{index}"] = chunk
        rows.append(row)
    return rows


def overflow_key(row_key: str, number: int) -> str:
    """The key of the `number`th extra row of `row_key`."""
    return f"{row_key}{OVERFLOW_MARK}{number:03d}"


def base_key(row_key: str) -> str:
    """The row key an overflow row belongs to (itself for a first row)."""
    return row_key.split(OVERFLOW_MARK, 1)[0]


def unpack(first: Mapping[str, Any], by_key: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The text `pack` split, from its first row and the partition's rows by key; None when
    an overflow row is missing (a write that never finished)."""
    parts = [_chunks(first)]
    for number in range(1, int(first.get("Rows", 1))):
        row = by_key.get(overflow_key(first["RowKey"], number))
        if row is None:
            return None
        parts.append(_chunks(row))
    return "".join(parts)


def _chunks(row: Mapping[str, Any]) -> str:
    """The D0, D1, ... properties of one row, joined."""
    texts = []
    index = 0
    while f"D{index}" in row:
        texts.append(row[f"D{index}"] or "")
        index += 1
    return "".join(texts)


def entity_bytes(rows: Iterable[Mapping[str, Any]]) -> int:
    """A generous estimate of the rows' size on the wire (UTF-16 strings plus overhead)."""
    total = 0
    for row in rows:
        total += 512 + sum(2 * len(str(value)) + 2 * len(name) for name, value in row.items())
    return total
