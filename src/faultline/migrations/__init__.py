"""Alembic migrations (run unchanged on SQLite and PostgreSQL)."""
