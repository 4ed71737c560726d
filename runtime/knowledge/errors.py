"""Errors of knowledge bases, each with a code the API and a document's status carry.

KnowledgeError (PermanentError)
├── DocumentError            this document cannot be ingested as it is (code says why)
├── DimensionMismatch        vectors of another size than the base's
├── Superseded               a newer ingestion of the document took it over (re-index, retry)
└── KnowledgeBaseNotFound    a step named a base the workspace does not have
EmbeddingUnavailable (RetryableError)   the embedding endpoint failed; a retry resumes
"""

from __future__ import annotations

from runtime.errors import PermanentError, RetryableError


class KnowledgeError(PermanentError):
    code = "knowledge_error"


class DocumentError(KnowledgeError):
    """A document that cannot be ingested; ``code`` is one of: empty_document, too_large,
    unsupported_type, binary_content, unknown_encoding, corrupt_pdf, invalid_json, invalid_csv,
    no_text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DimensionMismatch(KnowledgeError):
    code = "dimension_mismatch"


class Superseded(KnowledgeError):
    """A newer ingestion of the document (a re-index, a retry) has claimed it, or the document
    went: this one stops, and nothing it still had to write is stored."""

    code = "superseded"


class KnowledgeBaseNotFound(KnowledgeError):
    code = "knowledge_base_not_found"


class EmbeddingUnavailable(RetryableError):
    code = "embedding_unavailable"
