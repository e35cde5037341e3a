"""Validating a dataset file against its annotation type, and reading its normalised records.

:func:`validate_file` reads the whole file once, streamed, and reports every bad record with
the file, the line it starts on, the field and what to do about it (up to ``max_errors``
errors kept, all counted). :func:`iter_records` yields the normalised valid records that
publishing and training consume.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from jupyter_sxwl.catalog.datasets.annotation import AnnotationType, RecordSchema, schema_for
from jupyter_sxwl.catalog.datasets.formats import (
    CHUNK_SIZE,
    DatasetFileError,
    DatasetFormat,
    Malformed,
    read_records,
    sniff_format,
)

NO_RECORDS = (
    "the file has no records: add at least one record (JSONL: one JSON object per line; "
    "JSON: an array of objects; CSV: a header row and one row per record)"
)


@dataclass(frozen=True)
class RecordError:
    """One problem in a dataset file.

    ``line`` is the 1-based line the record starts on (None for the file as a whole);
    ``field`` is the field path (``candidates[1].safety_rank``) or None for the whole record.
    """

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass
class ValidationReport:
    """What validating one file found.

    ``records`` counts every record met, ``valid + invalid == records``. ``errors`` holds the
    first ``max_errors`` errors (a record can have several); ``error_count`` counts them all.
    ``complete`` is False when a problem stopped the file being read to its end (not UTF-8, a
    JSON array broken mid-way): the counts then cover only the part before it.
    """

    file: str
    annotation_type: AnnotationType
    format: DatasetFormat | None
    max_errors: int = 1000
    records: int = 0
    valid: int = 0
    invalid: int = 0
    error_count: int = 0
    complete: bool = True
    errors: list[RecordError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file has records and nothing is wrong with it."""
        return self.error_count == 0 and self.records > 0

    @property
    def truncated(self) -> bool:
        """True when more errors were found than ``errors`` keeps."""
        return self.error_count > len(self.errors)

    def add(self, line: int | None, field_name: str | None, message: str) -> None:
        """Count an error and keep it if the cap allows."""
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(RecordError(self.file, line, field_name, message))

    def summary(self) -> str:
        """One line for people: counts, and how many errors were left out."""
        text = (
            f"{self.file}: {self.records} records, {self.valid} valid, {self.invalid} invalid, "
            f"{self.error_count} errors"
        )
        if self.truncated:
            text += f" (first {len(self.errors)} listed)"
        if not self.complete:
            text += "; reading stopped early"
        return text


class DatasetValidationError(ValueError):
    """Raised by :func:`iter_records` for a bad record or an unreadable file."""

    def __init__(self, error: RecordError) -> None:
        super().__init__(str(error))
        self.error = error


class NormalisedRecord(NamedTuple):
    """A valid record in its canonical shape (see ``annotation``), with its line."""

    line: int
    data: dict[str, Any]


def _resolve(
    path: str | Path, annotation_type: AnnotationType | str, fmt: DatasetFormat | str | None
) -> tuple[RecordSchema, DatasetFormat]:
    schema = schema_for(annotation_type)
    kind = sniff_format(path) if fmt is None else DatasetFormat.parse(fmt)
    return schema, kind


def validate_file(
    path: str | Path,
    annotation_type: AnnotationType | str,
    fmt: DatasetFormat | str | None = None,
    max_errors: int = 1000,
    *,
    file_name: str | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> ValidationReport:
    """Check every record of a dataset file against its annotation type.

    ``fmt`` None sniffs the format from the extension and content. ``file_name`` is the name
    errors show (default: the file's name), e.g. the name the user uploaded it under. Reading
    is streamed, so any size of file works in bounded memory.
    """
    shown = file_name if file_name is not None else Path(path).name
    atype = AnnotationType.parse(annotation_type)
    report = ValidationReport(shown, atype, None, max_errors=max_errors)
    try:
        schema, kind = _resolve(path, atype, fmt)
    except DatasetFileError as e:
        report.add(e.line, None, e.message)
        report.complete = False
        return report
    report.format = kind
    check = schema.check
    records = valid = 0
    try:
        for line, rec in read_records(path, kind, schema.json_fields, chunk_size):
            records += 1
            if type(rec) is Malformed:
                report.add(line, rec.field, rec.message)
                continue
            problems = check(rec)
            if problems is None:
                valid += 1
            else:
                for p in problems:
                    report.add(line, p.field, p.message)
    except DatasetFileError as e:
        report.add(e.line, None, e.message)
        report.complete = False
    report.records = records
    report.valid = valid
    report.invalid = records - valid
    if records == 0 and report.complete:
        report.add(None, None, NO_RECORDS)
    return report


def iter_records(
    path: str | Path,
    annotation_type: AnnotationType | str,
    fmt: DatasetFormat | str | None = None,
    *,
    skip_invalid: bool = False,
    file_name: str | None = None,
) -> Iterator[NormalisedRecord]:
    """The valid records of a dataset file, normalised, in file order.

    A bad record raises :class:`DatasetValidationError` (naming file, line and field) unless
    ``skip_invalid``, which passes over it; a file that cannot be read on always raises. An
    empty file yields nothing (:func:`validate_file` reports it).
    """
    shown = file_name if file_name is not None else Path(path).name
    try:
        schema, kind = _resolve(path, annotation_type, fmt)
        check, normalise = schema.check, schema.normalise
        for line, rec in read_records(path, kind, schema.json_fields):
            if type(rec) is Malformed:
                if not skip_invalid:
                    raise DatasetValidationError(RecordError(shown, line, rec.field, rec.message))
                continue
            problems = check(rec)
            if problems is None:
                yield NormalisedRecord(line, normalise(rec))  # type: ignore[arg-type]
            elif not skip_invalid:
                first = problems[0]
                raise DatasetValidationError(RecordError(shown, line, first.field, first.message))
    except DatasetFileError as e:
        raise DatasetValidationError(RecordError(shown, e.line, None, e.message)) from None
