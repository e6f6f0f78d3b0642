"""The devhost conformance suite's small Function Apps."""

from pathlib import Path

APPS = Path(__file__).parent / "apps"
