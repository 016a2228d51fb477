"""Alembic environment and revisions of the order database."""
