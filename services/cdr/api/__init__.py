"""The CDR REST API (FastAPI): query, fetch and export call detail records."""
