"""Every test here starts from an environment without app settings."""

import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated_settings: None) -> None:
    """Apply tests/conftest.py's isolated_settings to every test in this directory."""
