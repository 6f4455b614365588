"""Storage: SQLModel tables, one repository per aggregate, Alembic migrations."""
