"""The agents' fictional data: JSON files in agents/data/, read when an agent is created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_FILES = (
    "customers.json",
    "credentials.json",
    "outages.json",
    "modems.json",
    "plans.json",
    "telemetry.json",
    "dispatch.json",
)


def load_data(file_name: str) -> Any:
    """Parse one data file (a fresh copy each call: agents may keep and change it)."""
    if file_name not in DATA_FILES:
        raise ValueError(f"unknown data file {file_name!r}")
    return json.loads((DATA_DIR / file_name).read_text(encoding="utf-8"))


def customers_by_id() -> dict[str, dict[str, Any]]:
    """Every customer record keyed by customer id."""
    return {record["customer_id"]: record for record in load_data("customers.json")["customers"]}


def index_by_customer(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records that carry a `customer_id`, keyed by it."""
    return {record["customer_id"]: record for record in records}
