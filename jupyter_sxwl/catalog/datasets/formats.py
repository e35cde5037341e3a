"""Reading dataset files: JSON Lines, JSON arrays and CSV, streamed, with exact line numbers.

Every reader yields ``(line, value)`` pairs, where ``line`` is the 1-based line of the file on
which the record starts and ``value`` is the parsed record, or a :class:`Malformed` saying why
that record could not be read (a broken JSONL line, a CSV row with the wrong number of cells).
Problems that stop the file being read any further (not UTF-8, a JSON array broken in the
middle) raise :class:`DatasetFileError` with the line.

Files are read in binary chunks of :data:`CHUNK_SIZE` and decoded as UTF-8 (a BOM is accepted
and dropped), so memory stays bounded whatever the file size: a JSONL or CSV reader holds one
chunk plus the line (or CSV row) being read, a JSON array reader one chunk plus the record being
parsed (at most :data:`MAX_JSON_RECORD` characters).

Format notes:

* JSONL: one JSON value per line; blank lines are skipped. This is the fast path.
* JSON: a top-level array of records, parsed incrementally with
  :meth:`json.JSONDecoder.raw_decode`. A syntax error inside the array stops reading (there is
  no reliable way to find the next record), so it is reported once, with its line. A ``.json``
  file whose content starts with ``{`` is read as JSON Lines, as Hugging Face ``datasets`` and
  LLaMA-Factory do.
* CSV: a header row names the fields; each further row is a record. Cells of list or object
  fields (``history``, ``Similar-Question``, ``candidates``, ``conversations``) hold JSON, e.g.
  ``["first", "second"]``; an empty cell leaves the field out. Quoted cells may span lines;
  the record's line is the line its row starts on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, NamedTuple

CHUNK_SIZE = 4 << 20
"""Bytes read at a time: large enough that per-chunk overhead vanishes, small enough to keep
memory flat."""

MAX_JSON_RECORD = 64 << 20
"""Largest single record of a JSON array, in characters. A record still incomplete at this
size is reported as broken rather than read on to the end of the file."""

_BOM = codecs.BOM_UTF8


class DatasetFormat(StrEnum):
    """The file formats a dataset can be imported from."""

    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"

    @classmethod
    def parse(cls, value: DatasetFormat | str) -> DatasetFormat:
        """Accept the enum or its name (``ndjson`` is an alias of ``jsonl``)."""
        if isinstance(value, DatasetFormat):
            return value
        name = str(value).strip().lower().lstrip(".")
        if name == "ndjson":
            return cls.JSONL
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown dataset format {value!r}: use jsonl, json or csv") from None


class Malformed(NamedTuple):
    """A record that could not be read; the message says what is wrong and how to fix it."""

    message: str
    field: str | None = None
    raw: str | None = None
    """The record's text as it stands in the file, when it is known (kept so it can be fixed)."""


class DatasetFileError(ValueError):
    """The file cannot be read any further from ``line`` (None: the file as a whole)."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
        self.message = message


Parsed = tuple[int, object]
"""``(line, record)``; ``record`` is a :class:`Malformed` when it could not be parsed."""


def sniff_format(path: str | Path) -> DatasetFormat:
    """The format of a dataset file, from its extension and, for JSON, its first character.

    ``.csv`` is CSV; ``.jsonl``/``.ndjson`` are JSON Lines; ``.json`` (or no known
    extension) is a JSON array when the content starts with ``[`` and JSON Lines when it
    starts with ``{``.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return DatasetFormat.CSV
    if suffix in (".jsonl", ".ndjson"):
        return DatasetFormat.JSONL
    first = _first_char(path)
    if first == "[":
        return DatasetFormat.JSON
    if first == "{":
        return DatasetFormat.JSONL
    if suffix == ".json":
        if first is None:
            return DatasetFormat.JSON  # empty: reported as "no records" by the reader
        raise DatasetFileError(
            1,
            f"a .json dataset must start with '[' (an array of records) or '{{' (one record "
            f"per line), not {first!r}: fix the file or import it with the right extension",
        )
    if first is None:
        return DatasetFormat.JSONL
    raise DatasetFileError(
        None,
        f"cannot tell the format of {Path(path).name!r}: name it .jsonl, .json or .csv, or "
        "say which format it is",
    )


def _first_char(path: str | Path) -> str | None:
    with open(path, "rb") as f:
        head = f.read(4096)
        while head:
            stripped = head.removeprefix(_BOM).lstrip(b" \t\r\n")
            if stripped:
                return chr(stripped[0])
            head = f.read(4096)
    return None


def not_utf8_message(line: int, bad: bytes) -> str:
    """The message for a file that is not UTF-8, naming the line and the fix."""
    return (
        f"the file is not UTF-8 at line {line} (byte 0x{bad[:1].hex()} cannot be decoded): "
        "re-save the file as UTF-8 (for example with your editor's 'Save with encoding' or "
        "`iconv -f GBK -t UTF-8 in.jsonl > out.jsonl`)"
    )


def decoded_chunks(f: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[str]:
    """The file's text in chunks, decoded strictly as UTF-8 with a leading BOM dropped.

    Raises :class:`DatasetFileError` with the exact line of the first byte that is not UTF-8.
    Chunks end anywhere (not at line ends); a character split across reads is carried over.
    """
    decode = codecs.utf_8_decode
    newlines = 0  # newlines in the bytes decoded so far: the line of the next byte is this + 1
    pending = b""
    first = True
    while True:
        chunk = f.read(chunk_size)
        final = not chunk
        if first:
            # The BOM can only be split across reads if the first read was tiny; read on.
            while len(chunk) < len(_BOM) and not final:
                more = f.read(chunk_size)
                if not more:
                    break
                chunk += more
            chunk = chunk.removeprefix(_BOM)
            first = False
        data = pending + chunk if pending else chunk
        try:
            text, consumed = decode(data, "strict", final)
        except UnicodeDecodeError as e:
            line = newlines + data.count(b"\n", 0, e.start) + 1
            # Hand over the whole lines before the bad one, so their records still count.
            good = data.rfind(b"\n", 0, e.start) + 1
            if good:
                yield data[:good].decode("utf-8")
            raise DatasetFileError(line, not_utf8_message(line, data[e.start : e.end])) from None
        newlines += data.count(b"\n", 0, consumed)
        pending = data[consumed:]
        if text:
            yield text
        if final:
            return


def read_jsonl(chunks: Iterable[str]) -> Iterator[Parsed]:
    """Records of a JSON Lines text: one per non-blank line."""
    loads = json.loads
    line = 0
    carry = ""
    for text in chunks:
        if carry:
            text = carry + text
        lines = text.split("\n")
        carry = lines.pop()
        for raw in lines:
            line += 1
            try:
                yield line, loads(raw)
            except ValueError as e:
                if raw and not raw.isspace():
                    yield line, _json_line_error(raw, e)
    if carry:
        line += 1
        try:
            yield line, loads(carry)
        except ValueError as e:
            if not carry.isspace():
                yield line, _json_line_error(carry, e)


def _json_line_error(raw: str, e: ValueError) -> Malformed:
    what = f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
    return Malformed(
        f"the line is not valid JSON ({what}): each line must be one complete JSON object; "
        "fix the quoting or escape line breaks inside strings as \\n",
        None,
        raw,
    )


_WS = re.compile(r"[ \t\n\r]*")


def read_json_array(chunks: Iterable[str]) -> Iterator[Parsed]:
    """Records of a JSON text holding one top-level array, parsed record by record."""
    source = iter(chunks)
    decoder = json.JSONDecoder()
    buf = ""
    pos = 0
    line = 1  # the line of buf[pos]
    exhausted = False

    def refill() -> bool:
        nonlocal buf, pos, exhausted
        if exhausted:
            return False
        nxt = next(source, None)
        if nxt is None:
            exhausted = True
            return False
        buf = buf[pos:] + nxt
        pos = 0
        return True

    def skip_ws() -> str | None:
        """Advance past whitespace; the next character, or None at the end of the text."""
        nonlocal pos, line
        while True:
            end = _WS.match(buf, pos).end()  # type: ignore[union-attr]  # always matches
            line += buf.count("\n", pos, end)
            pos = end
            if pos < len(buf):
                return buf[pos]
            if not refill():
                return None

    first = skip_ws()
    if first is None:
        return
    if first != "[":
        raise DatasetFileError(
            line,
            f"a JSON dataset must be one array of records, [{{...}}, {{...}}], but it starts "
            f"with {first!r}: wrap the records in [ ] or save them as JSON Lines (.jsonl)",
        )
    pos += 1
    expect_item = True
    after_comma = False
    while True:
        ch = skip_ws()
        if ch is None:
            raise DatasetFileError(
                line, "the JSON array is not closed: the file ends before its final ']'"
            )
        if not expect_item:
            if ch == ",":
                pos += 1
                expect_item = True
                after_comma = True
                continue
            if ch == "]":
                pos += 1
                break
            raise DatasetFileError(
                line,
                f"expected ',' or ']' after the record but found {ch!r}: separate records "
                "with commas",
            )
        if ch == "]" and not after_comma:
            pos += 1
            break
        while True:
            try:
                record, end = decoder.raw_decode(buf, pos)
                break
            except json.JSONDecodeError as e:
                incomplete = e.pos >= len(buf) - 8 or e.msg.startswith("Unterminated string")
                if incomplete and len(buf) - pos < MAX_JSON_RECORD and refill():
                    continue
                at = line + buf.count("\n", pos, e.pos)
                if incomplete and not exhausted:
                    msg = (
                        f"a record longer than {MAX_JSON_RECORD >> 20} MiB or never closed: "
                        "check its brackets and quotes"
                    )
                else:
                    msg = f"invalid JSON ({e.msg})"
                raise DatasetFileError(
                    at, f"{msg}; the array cannot be read past this point: fix the record"
                ) from None
        yield line, record
        line += buf.count("\n", pos, end)
        pos = end
        expect_item = False
        after_comma = False
    if skip_ws() is not None:
        raise DatasetFileError(
            line,
            "there is more data after the end of the JSON array: a .json dataset holds one "
            "array; merge the arrays or use JSON Lines",
        )


def _physical_lines(chunks: Iterable[str]) -> Iterator[str]:
    """One item per line of the file (ending in "\\n" except possibly the last), so that the
    csv module's ``line_num`` counts the file's lines exactly."""
    carry = ""
    for text in chunks:
        if carry:
            text = carry + text
        parts = text.split("\n")
        carry = parts.pop()
        for part in parts:
            yield part + "\n"
    if carry:
        yield carry


def _csv_text(row: list[str]) -> str:
    """A CSV row written back as one line of CSV text."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def read_csv(chunks: Iterable[str], json_fields: frozenset[str] = frozenset()) -> Iterator[Parsed]:
    """Records of a CSV text with a header row; cells of ``json_fields`` are parsed as JSON."""
    reader = csv.reader(_physical_lines(chunks))
    try:
        header = next(reader, None)
        while header is not None and not header:  # blank lines before the header
            header = next(reader, None)
    except csv.Error as e:
        raise DatasetFileError(reader.line_num, f"the CSV header cannot be read: {e}") from None
    if header is None:
        return
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DatasetFileError(
                reader.line_num,
                f"the CSV header names the column {name!r} twice: rename or remove one",
            )
        seen.add(name)
    width = len(header)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise DatasetFileError(
                start, f"the CSV row cannot be read ({e}): check its quotes"
            ) from None
        if not row or (len(row) == 1 and not row[0]):
            continue
        if len(row) != width:
            yield (
                start,
                Malformed(
                    f"the row has {len(row)} cells but the header has {width}: quote cells that "
                    'contain commas or line breaks ("a, b") and double quotes inside them ("")',
                    None,
                    _csv_text(row),
                ),
            )
            continue
        record: dict[str, object] = {}
        bad: Malformed | None = None
        for name, cell in zip(header, row, strict=True):
            if name in json_fields:
                if cell == "" or cell.isspace():
                    continue
                try:
                    record[name] = json.loads(cell)
                except ValueError as e:
                    bad = Malformed(
                        f"the {name!r} cell is not valid JSON ({e}): in CSV, write this field "
                        'as JSON, e.g. ["first", "second"] for a list',
                        name,
                        _csv_text(row),
                    )
                    break
            else:
                record[name] = cell
        yield start, bad if bad is not None else record


def read_records(
    path: str | Path,
    fmt: DatasetFormat | str | None = None,
    json_fields: frozenset[str] = frozenset(),
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[Parsed]:
    """Parsed records of a dataset file, streamed, each with the line it starts on.

    ``fmt`` None sniffs the format (:func:`sniff_format`). ``json_fields`` are the fields whose
    CSV cells hold JSON. Raises :class:`DatasetFileError` when the file cannot be read on.
    """
    kind = sniff_format(path) if fmt is None else DatasetFormat.parse(fmt)
    with open(path, "rb") as f:
        chunks = decoded_chunks(f, chunk_size)
        if kind is DatasetFormat.JSONL:
            yield from read_jsonl(chunks)
        elif kind is DatasetFormat.JSON:
            yield from read_json_array(chunks)
        else:
            yield from read_csv(chunks, json_fields)
