"""Tests of the client libraries (casebook.clients)."""
