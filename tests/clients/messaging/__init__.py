"""Tests of the messaging client library."""
