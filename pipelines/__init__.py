"""Apache Beam composites wiring curation/ into jobs, and the curate CLI."""

import logging


class _DropGcpNotice(logging.Filter):
    """Beam's GCP module logs a notice about missing apitools at import, on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "apitools not found" not in record.getMessage()


logging.getLogger().addFilter(_DropGcpNotice())
