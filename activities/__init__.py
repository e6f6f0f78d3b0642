"""Durable activity functions (all I/O happens here)."""
