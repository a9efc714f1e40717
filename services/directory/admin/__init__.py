"""The admin REST API (FastAPI) of the directory service; see docs/admin-api.md."""
