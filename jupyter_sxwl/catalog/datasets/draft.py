"""A dataset's working copy on disk: imported files as JSON Lines with a record index.

Every imported file (JSONL, JSON or CSV) becomes one *draft file*: one line per record, in
file order, either the record as a JSON object (as the user wrote it, valid or not) or, for a
record that could not be parsed, its raw text as a JSON string so it can be fixed in the
annotation view. Beside it, ``<draft>.idx`` holds two little-endian uint64 per record (byte
offset in the draft, line in the source file) and one final entry (end offset, 0), so record
``i`` is read with two small reads whatever the file size.

JSON Lines input takes a fast path: lines are parsed from bytes and copied through unchanged,
so importing costs one ``json.loads`` per record (about the cost of validating it).
"""

from __future__ import annotations

import codecs
import json
import os
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from .annotation import AnnotationType, FieldProblem, RecordSchema, schema_for
from .formats import (
    CHUNK_SIZE,
    DatasetFileError,
    DatasetFormat,
    Malformed,
    not_utf8_message,
    read_records,
    sniff_format,
)

ENTRY = 16  # bytes per index entry: offset and source line
_LITTLE = sys.byteorder == "little"

Progress = Callable[[int], None]
"""Called with the number of source bytes read so far."""


class DraftIssue(NamedTuple):
    """A problem of one record: its index in the draft, its source line, field and message."""

    idx: int
    line: int | None
    field: str | None
    message: str


@dataclass
class DraftResult:
    """What :func:`build_draft` found: counts, the format read, and the problems."""

    format: DatasetFormat
    records: int = 0
    invalid: int = 0
    size: int = 0
    issues: list[DraftIssue] = field(default_factory=list)
    issues_dropped: int = 0


class TooManyInvalid(ValueError):
    """More invalid records than an import keeps: the file needs fixing before import."""


def _write_index(path: Path, entries: array) -> None:  # type: ignore[type-arg]
    if not _LITTLE:
        entries.byteswap()
    with open(path, "wb") as f:
        entries.tofile(f)


def index_path(draft: Path) -> Path:
    return draft.with_name(draft.name + ".idx")


def build_draft(
    src: Path,
    dest: Path,
    annotation_type: AnnotationType | str,
    *,
    fmt: DatasetFormat | str | None = None,
    max_invalid: int = 100_000,
    progress: Progress | None = None,
) -> DraftResult:
    """Read ``src`` and write its draft to ``dest`` (and ``dest.idx``), checking every record.

    Raises :class:`DatasetFileError` when the file cannot be read on (not UTF-8, a JSON array
    broken in the middle) and :class:`TooManyInvalid` past ``max_invalid`` bad records; the
    caller removes ``dest`` then. Memory stays bounded: one chunk plus the index (16 bytes per
    record).
    """
    schema = schema_for(annotation_type)
    kind = sniff_format(src) if fmt is None else DatasetFormat.parse(fmt)
    result = DraftResult(kind, size=src.stat().st_size)
    entries = array("Q")
    with open(dest, "wb", buffering=CHUNK_SIZE) as out:
        if kind is DatasetFormat.JSONL:
            offset = _jsonl_draft(src, out, schema, entries, result, max_invalid, progress)
        else:
            offset = _parsed_draft(src, kind, out, schema, entries, result, max_invalid, progress)
    entries.append(offset)
    entries.append(0)
    _write_index(index_path(dest), entries)
    return result


def _note(
    result: DraftResult,
    idx: int,
    line: int | None,
    problems: Sequence[FieldProblem] | Sequence[tuple[str | None, str]],
    max_invalid: int,
) -> None:
    result.invalid += 1
    if result.invalid > max_invalid:
        raise TooManyInvalid(
            f"more than {max_invalid:,} records are invalid (the first at line "
            f"{result.issues[0].line if result.issues else line}); fix the file and import it again"
        )
    for p in problems:
        f, m = (p.field, p.message) if isinstance(p, FieldProblem) else p
        result.issues.append(DraftIssue(idx, line, f, m))


def _jsonl_draft(
    src: Path,
    out: BinaryIO,
    schema: RecordSchema,
    entries: array,  # type: ignore[type-arg]
    result: DraftResult,
    max_invalid: int,
    progress: Progress | None,
) -> int:
    loads, check = json.loads, schema.check
    write, append = out.write, entries.append
    offset = 0
    line = 0
    carry = b""
    read = 0
    with open(src, "rb") as f:
        first = True
        while True:
            chunk = f.read(CHUNK_SIZE)
            final = not chunk
            read += len(chunk)
            if first:
                chunk = chunk.removeprefix(codecs.BOM_UTF8)
                first = False
            data = carry + chunk if carry else chunk
            lines = data.split(b"\n")
            carry = b"" if final else lines.pop()
            for raw in lines:
                line += 1
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                if not raw or raw.isspace():
                    continue
                idx = len(entries) >> 1
                try:
                    value = loads(raw)
                except UnicodeDecodeError as e:
                    raise DatasetFileError(
                        line, not_utf8_message(line, raw[e.start : e.end])
                    ) from None
                except ValueError as e:
                    text = raw.decode("utf-8")
                    what = (
                        f"{e.msg} at column {e.colno}"
                        if isinstance(e, json.JSONDecodeError)
                        else str(e)
                    )
                    _note(
                        result,
                        idx,
                        line,
                        [
                            (
                                None,
                                f"the line is not valid JSON ({what}): each line must be one "
                                "complete JSON object; fix the quoting or escape line breaks "
                                "inside strings as \\n",
                            )
                        ],
                        max_invalid,
                    )
                    raw = json.dumps(text, ensure_ascii=False).encode()
                else:
                    problems = check(value)
                    if problems is not None:
                        _note(result, idx, line, problems, max_invalid)
                append(offset)
                append(line)
                write(raw)
                write(b"\n")
                offset += len(raw) + 1
            if progress is not None:
                progress(read)
            if final:
                break
    result.records = len(entries) >> 1
    return offset


def _parsed_draft(
    src: Path,
    kind: DatasetFormat,
    out: BinaryIO,
    schema: RecordSchema,
    entries: array,  # type: ignore[type-arg]
    result: DraftResult,
    max_invalid: int,
    progress: Progress | None,
) -> int:
    check = schema.check
    offset = 0
    size_hint = os.stat(src).st_size
    for counter, (line, rec) in enumerate(read_records(src, kind, schema.json_fields), 1):
        idx = len(entries) >> 1
        if type(rec) is Malformed:
            _note(result, idx, line, [(rec.field, rec.message)], max_invalid)
            blob = json.dumps(rec.raw or "", ensure_ascii=False).encode()
        else:
            problems = check(rec)
            if problems is not None:
                _note(result, idx, line, problems, max_invalid)
            blob = json.dumps(rec, ensure_ascii=False).encode()
        entries.append(offset)
        entries.append(line)
        out.write(blob)
        out.write(b"\n")
        offset += len(blob) + 1
        if progress is not None and counter % 10_000 == 0:
            progress(min(offset, size_hint))
    if progress is not None:
        progress(size_hint)
    result.records = len(entries) >> 1
    return offset


class DraftRecord(NamedTuple):
    """A record of a draft file: an object, or the raw text of one that could not be parsed."""

    idx: int
    line: int
    value: Any


class DraftFile:
    """Random and sequential reads of a draft file through its index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.index = index_path(path)
        self.count = max(self.index.stat().st_size // ENTRY - 1, 0)

    def _entries(self, start: int, n: int) -> array:  # type: ignore[type-arg]
        entries = array("Q")
        with open(self.index, "rb") as f:
            f.seek(start * ENTRY)
            entries.frombytes(f.read(n * ENTRY))
        if not _LITTLE:
            entries.byteswap()
        return entries

    def read(self, start: int, n: int) -> list[DraftRecord]:
        """Records ``start`` .. ``start + n - 1`` (fewer at the end)."""
        n = max(0, min(n, self.count - start))
        if n == 0:
            return []
        entries = self._entries(start, n + 1)
        first, last = entries[0], entries[2 * n]
        with open(self.path, "rb") as f:
            f.seek(first)
            blob = f.read(last - first)
        out = []
        for i in range(n):
            a, b = entries[2 * i] - first, entries[2 * i + 2] - first
            out.append(DraftRecord(start + i, entries[2 * i + 1], json.loads(blob[a : b - 1])))
        return out

    def get(self, idx: int) -> DraftRecord:
        if not 0 <= idx < self.count:
            raise IndexError(idx)
        return self.read(idx, 1)[0]

    def __iter__(self) -> Iterator[DraftRecord]:
        """Every record in order, streamed."""
        step = 4096
        for start in range(0, self.count, step):
            yield from self.read(start, step)


def record_problems(schema: RecordSchema, value: Any) -> list[dict[str, Any]]:
    """The problems of one record as ``[{"field", "message"}]`` (empty when valid)."""
    if isinstance(value, str):
        return [
            {
                "field": None,
                "message": "the record is not valid JSON; rewrite it as an object with the "
                "fields of its annotation type",
            }
        ]
    problems = schema.check(value)
    return [] if problems is None else [{"field": p.field, "message": p.message} for p in problems]
