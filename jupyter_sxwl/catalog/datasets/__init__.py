"""Dataset records: annotation types, file formats and validation (issue 3, D1).

Pure code: it reads the files it is given and nothing else. Storage, versions and the API
build on :func:`validate_file` and :func:`iter_records`.
"""

from jupyter_sxwl.catalog.datasets.annotation import (
    AnnotationType,
    FieldProblem,
    RecordSchema,
    schema_for,
)
from jupyter_sxwl.catalog.datasets.formats import (
    DatasetFileError,
    DatasetFormat,
    read_records,
    sniff_format,
)
from jupyter_sxwl.catalog.datasets.validation import (
    DatasetValidationError,
    NormalisedRecord,
    RecordError,
    ValidationReport,
    iter_records,
    validate_file,
)

__all__ = [
    "AnnotationType",
    "DatasetFileError",
    "DatasetFormat",
    "DatasetValidationError",
    "FieldProblem",
    "NormalisedRecord",
    "RecordError",
    "RecordSchema",
    "ValidationReport",
    "iter_records",
    "read_records",
    "schema_for",
    "sniff_format",
    "validate_file",
]
