"""The SQL store: SQLAlchemy models and Alembic migrations."""
