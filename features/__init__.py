"""Feature families and their registry (see :mod:`features.registry`)."""
from .registry import Calculator, column_name, parse_column, select  # noqa: F401
