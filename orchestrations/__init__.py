"""Durable orchestrator functions (deterministic code only)."""
