"""Outage, modem, plan and network agents: every status branch on the fictional data."""

import pytest

from agents.inputs import RequestInput
from agents.internet_plan import InternetPlanAgent
from agents.modem_check import ModemCheckAgent
from agents.network_performance import NetworkPerformanceAgent, grade
from agents.outage_check import OutageCheckAgent


def ask(agent, data=None, text=""):
    return agent.handle(RequestInput(data=data or {}, text=text))


def agent_fixture(name, agent_class):
    """A module-wide agent of `agent_class`, as fixture `name` (they hold no state per test)."""
    return pytest.fixture(scope="module", name=name)(lambda: agent_class())


outage = agent_fixture("outage", OutageCheckAgent)
modem = agent_fixture("modem", ModemCheckAgent)
plan = agent_fixture("plan", InternetPlanAgent)
network = agent_fixture("network", NetworkPerformanceAgent)


ALL = ["outage", "modem", "plan", "network"]


@pytest.mark.parametrize("name", ALL)
def test_missing_customer_id_is_a_normal_answer_naming_the_field(request, name):
    reply = ask(request.getfixturevalue(name), text="it does not work")
    assert reply.data == {"status": "MISSING_FIELD", "missingFields": ["customerId"]}
    assert "customerId" in reply.text


@pytest.mark.parametrize("name", ALL)
def test_unknown_customer(request, name):
    reply = ask(request.getfixturevalue(name), {"customerId": "CUST-0999"})
    assert reply.data == {"status": "UNKNOWN_CUSTOMER", "customerId": "CUST-0999"}


# --- outage ---


def test_local_outage_comes_first_even_with_a_regional_one(outage):
    # CUST-0008 is at V6B 1A1 (local outage) in Vancouver (regional outage too).
    reply = ask(outage, {"customerId": "CUST-0008"})
    assert reply.data["status"] == "LOCAL_OUTAGE"
    assert reply.data["outageId"] == "OUT-L-003"
    assert reply.data["affectedServices"] == ["internet"]
    assert reply.data["eta"] == "2026-11-25T15:00:00Z"
    assert "Power supply failure" in reply.text


def test_local_outage_shared_by_neighbours(outage):
    for customer_id in ("CUST-0001", "CUST-0014"):
        reply = ask(outage, text=f"is there an outage for {customer_id}?")
        assert (reply.data["status"], reply.data["outageId"]) == ("LOCAL_OUTAGE", "OUT-L-001")


def test_regional_outage(outage):
    reply = ask(outage, {"customerId": "CUST-0009"})
    assert (reply.data["status"], reply.data["outageId"]) == ("REGIONAL_OUTAGE", "OUT-R-002")
    reply = ask(outage, {"customerId": "CUST-0005"})
    assert reply.data["status"] == "REGIONAL_OUTAGE"
    assert reply.data["affectedServices"] == ["internet", "tv", "phone"]
    assert reply.data["cause"] in reply.text


@pytest.mark.parametrize(
    "customer_id",
    [
        "CUST-0002",  # Toronto, no outage anywhere near
        "CUST-0006",  # Ottawa: its local outage is resolved
        "CUST-0010",  # Calgary: its regional outage is resolved
    ],
)
def test_no_outage_when_none_is_active(outage, customer_id):
    reply = ask(outage, {"customerId": customer_id})
    assert reply.data["status"] == "NO_OUTAGE"
    assert "no known outage" in reply.text


# --- modem ---


@pytest.mark.parametrize(
    ("customer_id", "led", "verdict"),
    [
        ("CUST-0006", None, "NO_POWER"),
        ("CUST-0005", None, "HARDWARE_FAULT"),
        ("CUST-0002", None, "NOT_PROVISIONED"),
        ("CUST-0003", None, "SIGNAL_ISSUE"),
        ("CUST-0004", None, "FIRMWARE_OUTDATED"),
        ("CUST-0013", None, "FIRMWARE_OUTDATED"),
        ("CUST-0007", None, "RESTART_MODEM"),
        ("CUST-0001", None, "HEALTHY"),
        ("CUST-0012", None, "HEALTHY"),
        ("CUST-0001", "off", "NO_POWER"),
        ("CUST-0001", "red", "HARDWARE_FAULT"),
        ("CUST-0001", "blinking-yellow", "RESTART_MODEM"),
    ],
)
def test_modem_verdicts(modem, customer_id, led, verdict):
    data = {"customerId": customer_id} | ({"ledState": led} if led else {})
    reply = ask(modem, data)
    assert reply.data["status"] == verdict
    assert reply.data["nextStep"] in reply.text


def test_modem_reports_each_check(modem):
    reply = ask(modem, {"customerId": "CUST-0003", "ledState": "blinking yellow"})
    assert reply.data["ledState"] == "blinking-yellow"
    assert reply.data["checks"] == {
        "provisioned": True,
        "firmwareVersion": "7.4.2",
        "latestFirmware": "7.4.2",
        "firmwareCurrent": True,
        "signalOk": False,
        "signalFaults": ["downstream_power_dbmv", "upstream_power_dbmv", "snr_db"],
    }
    outdated = ask(modem, {"customerId": "CUST-0004"}).data["checks"]
    assert (outdated["firmwareVersion"], outdated["firmwareCurrent"]) == ("7.1.0", False)


def test_modem_led_from_free_text(modem):
    reply = ask(modem, text="Customer CUST-0001 says the light is flashing orange")
    assert (reply.data["ledState"], reply.data["status"]) == ("blinking-yellow", "RESTART_MODEM")


# --- plan ---


def test_plan_ok_unlimited(plan):
    reply = ask(plan, {"customerId": "CUST-0001"})
    assert reply.data["status"] == "OK"
    assert reply.data["plan"]["type"] == "unlimited"
    assert (reply.data["overageGb"], reply.data["overageCharge"]) == (0.0, 0.0)
    assert reply.data["accessActive"] is True


def test_plan_ok_capped_within_cap(plan):
    reply = ask(plan, {"customerId": "CUST-0006"})
    assert reply.data["status"] == "OK"
    assert reply.data["usageGb"] <= reply.data["plan"]["dataCapGb"]


def test_plan_overage(plan):
    reply = ask(plan, text="How much have I used? I'm CUST-0003")
    assert reply.data["status"] == "OVERAGE"
    assert (reply.data["usageGb"], reply.data["overageGb"], reply.data["overageCharge"]) == (
        250.0,
        50.0,
        100.0,
    )
    assert "$100.00" in reply.text
    assert reply.data["accessActive"] is True


def test_plan_one_unpaid_bill_is_overdue_but_active(plan):
    reply = ask(plan, {"customerId": "CUST-0010"})
    assert (reply.data["status"], reply.data["unpaidBills"]) == ("PAYMENT_OVERDUE", 1)
    assert reply.data["accessActive"] is True
    assert [bill["paid"] for bill in reply.data["bills"]] == [True, True, False]


def test_plan_two_unpaid_bills_suspend_access(plan):
    reply = ask(plan, {"customerId": "CUST-0011"})
    assert (reply.data["status"], reply.data["unpaidBills"]) == ("SUSPENDED", 2)
    assert reply.data["accessActive"] is False
    assert "suspended" in reply.text
    assert [bill["period"] for bill in reply.data["bills"]] == ["2026-09", "2026-10", "2026-11"]


# --- network ---


@pytest.mark.parametrize(
    ("latency", "loss", "status"),
    [
        (30, 0.5, "EXCELLENT"),
        (30.1, 0.5, "GOOD"),
        (30, 0.6, "GOOD"),
        (80, 2, "GOOD"),
        (81, 0, "POOR"),
        (10, 10, "POOR"),
        (250, 2, "POOR"),
        (251, 0, "CRITICAL"),
        (10, 10.1, "CRITICAL"),
    ],
)
def test_documented_thresholds(latency, loss, status):
    assert grade(latency, loss) == status


@pytest.mark.parametrize(
    ("customer_id", "status", "technician"),
    [
        ("CUST-0001", "EXCELLENT", False),
        ("CUST-0002", "GOOD", False),
        ("CUST-0003", "POOR", False),
        ("CUST-0005", "CRITICAL", True),  # 45 % loss
        ("CUST-0012", "CRITICAL", True),  # 350 ms latency
        ("CUST-0013", "CRITICAL", True),  # 12.5 % loss
    ],
)
def test_network_status_and_technician_recommendation(network, customer_id, status, technician):
    reply = ask(network, {"customerId": customer_id})
    assert reply.data["status"] == status
    assert reply.data["technicianRecommended"] is technician
    assert reply.data["recommendation"] in reply.text
    if technician:
        assert "technician" in reply.data["recommendation"].lower()


def test_network_poor_recommends_a_reset(network):
    assert "Reset the network" in ask(network, {"customerId": "CUST-0003"}).data["recommendation"]


def test_network_counts_devices_and_flags_too_many(network):
    busy = ask(network, {"customerId": "CUST-0004"}).data
    assert (busy["connectedDevices"], busy["tooManyDevices"]) == (24, True)
    assert len(busy["devices"]) == 24
    assert "Disconnect idle devices" in busy["recommendation"]
    quiet = ask(network, {"customerId": "CUST-0001"}).data
    assert (quiet["connectedDevices"], quiet["tooManyDevices"]) == (5, False)
