"""host.json: the settings the latency budget and the traces depend on (DESIGN.md, "Latency
budget"; docs/operations.md, "Traces")."""

from __future__ import annotations

import json

from tests.infra.bicep import ROOT


def durable_task() -> dict:
    return json.loads((ROOT / "host.json").read_text())["extensions"]["durableTask"]


def test_durable_queues_are_polled_at_least_every_second():
    # Idle, Durable's Azure Storage backend backs its polling off to this bound (30 s by
    # default): a voice turn's orchestration would wait that long to start.
    assert durable_task()["storageProvider"]["maxQueuePollingInterval"] == "00:00:01"


def test_durable_distributed_tracing_v2_is_on():
    tracing = durable_task()["tracing"]
    assert tracing["distributedTracingEnabled"] is True
    assert tracing["version"] == "V2"


def test_the_task_hub_comes_from_the_app_setting():
    assert durable_task()["hubName"] == "%TASKHUB_NAME%"
