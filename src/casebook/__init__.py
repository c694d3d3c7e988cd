"""Casebook: the system-design case studies of the seed articles, built as working software."""

__version__ = "0.1.0"
