"""Arrow schemas and plain record types: the contract between curation and the trainer."""

from schemas.base import (
    SchemaValidationError,
    SchemaVersionError,
    check_schema,
    read_table,
    validate,
)
from schemas.records import (
    Document,
    ImageNode,
    ImageRecord,
    M3WSample,
    RawPage,
    Rejection,
    TextNode,
    WarcImage,
    make_doc_id,
)
from schemas.tables import (
    DOCUMENT_SCHEMA,
    IMAGE_TYPE,
    M3W_SCHEMA,
    REJECTION_SCHEMA,
    document_to_row,
    m3w_sample_to_row,
    rejection_to_row,
    row_to_m3w_sample,
)

__all__ = [
    "DOCUMENT_SCHEMA",
    "IMAGE_TYPE",
    "M3W_SCHEMA",
    "REJECTION_SCHEMA",
    "Document",
    "ImageNode",
    "ImageRecord",
    "M3WSample",
    "RawPage",
    "Rejection",
    "SchemaValidationError",
    "SchemaVersionError",
    "TextNode",
    "WarcImage",
    "check_schema",
    "document_to_row",
    "m3w_sample_to_row",
    "make_doc_id",
    "read_table",
    "rejection_to_row",
    "row_to_m3w_sample",
    "validate",
]
