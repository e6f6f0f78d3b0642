"""Operations as code (infra/app/alerts.bicep): the four alert rules, the action group that
exists only with an e-mail address, and the contract between each rule's query and what the app
really emits (metric names and attributes, log events and fields)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import azure.durable_functions as df
import pytest

from tests.infra.bicep import (
    ROOT,
    Block,
    accessor_path,
    function_call,
    main,
    module_call,
    template,
)
from voicea2a import config, registry
from voicea2a.telemetry.context import FIELDS
from voicea2a.telemetry.logs import EXTRA_FIELDS, JsonFormatter
from voicea2a.telemetry.metrics import record_delegation, record_event_failed
from voicea2a.telemetry.setup import use_providers

RULE = "Microsoft.Insights/scheduledQueryRules"
KQL_CHECK = Path(__file__).with_name("kql_check.js")
# Where the app's log lines are written (an `event` there is something an alert may read).
CODE_PATHS = ("bindings.py", "api", "activities", "orchestrations", "jobs", "voicea2a")


def alerts():
    return template("app/alerts.bicep")


def rules() -> dict[str, Block]:
    return {block.symbol: block for block in alerts().of_type(RULE, existing=False)}


def criterion(rule: Block) -> dict:
    (only,) = rule.get("properties.criteria.allOf")
    return only


def query(rule: Block) -> str:
    text = alerts().resolve(criterion(rule)["query"])
    assert isinstance(text, str), f"{rule.symbol}: the query is not a constant"
    return text


def minutes(duration: str) -> int:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", duration)
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_the_module_is_deployed_with_the_app_insights_of_the_app():
    module, _ = module_call("alerts")
    assert accessor_path(module.get("params.applicationInsightsName")) == [
        "monitoring",
        "outputs",
        "applicationInsightsName",
    ]
    assert module.get("params.alertEmailAddress") == "alertEmailAddress"
    assert main().params["alertEmailAddress"]["default"] == ""
    components = alerts().resources["appInsights"]
    assert components.existing and components.type == "Microsoft.Insights/components"


def test_there_is_one_rule_per_documented_alert():
    assert set(rules()) == {
        "delegationFailures",
        "delegationLatency",
        "agentUnhealthy",
        "publishFailures",
    }


@pytest.mark.parametrize("symbol", sorted(rules()))
def test_each_rule_queries_app_insights_and_measures_a_column_its_query_returns(symbol):
    rule = rules()[symbol]
    properties = rule.get("properties")
    assert [accessor_path(scope) for scope in properties["scopes"]] == [["appInsights", "id"]]
    assert properties["enabled"] is True
    assert properties["autoMitigate"] is True  # resolves itself when the condition clears
    assert properties["actions"] == "actions"
    assert properties["severity"] in (0, 1, 2, 3, 4)
    assert minutes(properties["windowSize"]) >= minutes(properties["evaluationFrequency"])
    measured = criterion(rule)
    text = query(rule)
    # The column the threshold applies to, and every dimension, are outputs of the query.
    assert re.search(rf"\b{measured['metricMeasureColumn']}\s*=", text), symbol
    for dimension in measured.get("dimensions", []):
        assert re.search(rf"\bby\s+{dimension['name']}\b", text), dimension


def test_thresholds_are_the_documented_ones():
    tpl, all_rules = alerts(), rules()
    defaults = {name: param.get("default") for name, param in tpl.params.items()}

    failures = criterion(all_rules["delegationFailures"])
    assert (failures["metricMeasureColumn"], failures["operator"]) == (
        "failurePercent",
        "GreaterThan",
    )
    assert failures["threshold"] == "delegationFailurePercent"
    assert defaults["delegationFailurePercent"] == 5

    # p95 above the time a voice turn waits for its answer (VOICE_SYNC_WAIT_SECONDS).
    latency = criterion(all_rules["delegationLatency"])
    assert (latency["metricMeasureColumn"], latency["threshold"]) == ("p95Ms", "delegationP95Ms")
    assert defaults["delegationP95Ms"] == config.DelegationSettings().sync_wait_seconds * 1000
    assert "ago(15m)" in query(all_rules["delegationLatency"])

    agent = criterion(all_rules["agentUnhealthy"])
    assert agent["metricMeasureColumn"] == "unhealthyMinutes"
    assert (agent["operator"], agent["threshold"]) == (
        "GreaterThanOrEqual",
        "agentUnhealthyMinutes",
    )
    assert defaults["agentUnhealthyMinutes"] == 5
    assert [d["name"] for d in agent["dimensions"]] == ["agent"]  # one alert per agent

    # Failures in three consecutive 5-minute windows: the whole 15-minute look-back.
    publish = all_rules["publishFailures"]
    assert criterion(publish)["metricMeasureColumn"] == "failingWindows"
    assert (criterion(publish)["operator"], criterion(publish)["threshold"]) == (
        "GreaterThanOrEqual",
        3,
    )
    assert minutes(publish.get("properties.windowSize")) == 15
    assert "bin_at(timestamp, 5m, now())" in query(publish)


def test_the_action_group_exists_only_with_an_email_address():
    tpl = alerts()
    assert tpl.params["alertEmailAddress"]["default"] == ""
    group = tpl.resources["actionGroup"]
    assert group.condition == "notify"
    notify = tpl.variables["notify"]["operator"]
    assert notify["type"] == "not"
    assert function_call(notify["operands"]["bool_value"], "empty") == {
        "item_to_test": "alertEmailAddress"
    }
    assert group.get("location") == "global"
    assert len(group.get("properties.groupShortName")) <= 12
    (receiver,) = group.get("properties.emailReceivers")
    assert receiver["emailAddress"] == "alertEmailAddress"
    assert group.get("properties.enabled") is True


def test_rules_notify_the_group_with_an_address_and_nobody_without_one():
    choice = alerts().variables["actions"]["actionGroups"]["operator"]
    assert choice["type"] == "conditional"
    assert choice["operands"]["condition"] == "notify"
    assert [accessor_path(item) for item in choice["operands"]["true_value"]] == [
        ["actionGroup", "id"]
    ]
    assert choice["operands"]["false_value"] == []


# --- the queries read what the app emits -------------------------------------------------------


def emitted_events() -> set[str]:
    """Every `event` a log line of the app carries (`extra={"event": ...}` or `event=...`)."""
    found: set[str] = set()
    for place in CODE_PATHS:
        for path in [ROOT / place] if place.endswith(".py") else (ROOT / place).rglob("*.py"):
            text = path.read_text()
            found.update(re.findall(r'"event":\s*"([a-z.]+)"', text))
            found.update(re.findall(r'\bevent="([a-z.]+)"', text))
    return found


def recorded_metrics() -> dict[str, set[str]]:
    """Metric name -> attribute names, as telemetry records the two metrics the rules read."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    use_providers(meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        record_delegation(1200.0, "failed")
        record_event_failed("message")
        data = reader.get_metrics_data()
    finally:
        use_providers(None, None)
    found: dict[str, set[str]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found.setdefault(metric.name, set()).update(point.attributes)
    return found


@pytest.mark.parametrize("symbol", sorted(rules()))
def test_each_query_reads_events_fields_and_metrics_the_app_emits(symbol):
    text = query(rules()[symbol])
    events = set(re.findall(r'event\)?\s*==\s*"([a-z.]+)"', text))
    metrics = set(re.findall(r'\bname\s*==\s*"([a-z.]+)"', text))
    assert events or metrics, f"{symbol}: reads neither a log event nor a metric"
    assert events <= emitted_events(), f"{symbol}: no code logs {events - emitted_events()}"
    fields = set(re.findall(r"\bj\.(\w+)", text))
    known = set(FIELDS) | set(EXTRA_FIELDS)
    assert fields <= known, f"{symbol}: log fields the formatter never writes: {fields - known}"
    recorded = recorded_metrics()
    for name in metrics:
        assert name in recorded, f"{symbol}: no metric {name}"
        dimensions = set(re.findall(r"customDimensions\.(\w+)", text))
        assert dimensions <= recorded[name], f"{symbol}: {name} has no {dimensions}"


def test_the_health_job_logs_the_lines_the_agent_alert_reads(monkeypatch, caplog):
    from jobs import agent_health

    records = [
        SimpleNamespace(name="billing", health=registry.HEALTHY, failures=0),
        SimpleNamespace(name="dispatch", health=registry.UNHEALTHY, failures=4),
    ]

    async def probe_all(settings):
        return records, False

    monkeypatch.setattr(registry, "probe_all", probe_all)
    monkeypatch.setattr(agent_health, "get_settings", lambda: SimpleNamespace(agents=None))
    monkeypatch.setattr(agent_health, "ensure_setup", lambda: None)
    app = df.DFApp()
    app.register_functions(agent_health.bp)
    job = {f.get_function_name(): f for f in app.get_functions()}["agent_health"]
    with caplog.at_level(logging.INFO, logger="jobs.agent_health"):
        asyncio.run(job.get_user_function()(timer=None))
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    health = [line for line in lines if line.get("event") == "agent.health"]
    assert [(line["agent"], line["status"]) for line in health] == [
        ("billing", "healthy"),
        ("dispatch", "unhealthy"),
    ]
    # Exactly the fields the agent rule reads (j.event, j.agent, j.status).
    read = set(re.findall(r"\bj\.(\w+)", query(rules()["agentUnhealthy"])))
    assert read <= set(health[1])


def test_every_query_is_valid_kql_for_application_insights(tmp_path):
    # Kusto.Language parses and types each query as Azure Monitor will when the rule is created.
    node = shutil.which("node")
    assert node, "node is needed (scripts/setup.sh checks for it)"
    files = {}
    for symbol, rule in rules().items():
        files[symbol] = tmp_path / f"{symbol}.kql"
        files[symbol].write_text(query(rule))
    result = subprocess.run(
        [node, str(KQL_CHECK), *map(str, files.values())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    for symbol, path in files.items():
        checked = report[str(path)]
        assert not checked["errors"], f"{symbol}: {checked['errors']}"
        measured = criterion(rules()[symbol])
        assert checked["columns"][measured["metricMeasureColumn"]] in ("int", "long", "real")
        for dimension in measured.get("dimensions", []):
            assert checked["columns"][dimension["name"]] == "string"
    assert result.returncode == 0
