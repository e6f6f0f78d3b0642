"""The fictional data set: one set of customer ids, unique in every file, present everywhere."""

import json
from collections import Counter

import pytest

from agents.credentials import ScryptScheme, credential_secret, verify_credential
from agents.datastore import DATA_DIR, DATA_FILES, load_data
from tests.agents.identities import IDENTITIES


def customer_ids() -> list[str]:
    return [c["customer_id"] for c in load_data("customers.json")["customers"]]


# file -> the records in it that belong to one customer each
PER_CUSTOMER_RECORDS = {
    "credentials.json": lambda d: d["credentials"],
    "modems.json": lambda d: d["modems"],
    "plans.json": lambda d: d["subscriptions"],
    "telemetry.json": lambda d: d["telemetry"],
}


def test_every_data_file_is_listed_and_parses():
    assert sorted(p.name for p in DATA_DIR.glob("*.json")) == sorted(DATA_FILES)
    for name in DATA_FILES:
        assert load_data(name)


def test_at_least_twenty_customers_with_unique_well_formed_ids():
    ids = customer_ids()
    assert len(ids) >= 20
    duplicates = [cid for cid, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert all(len(cid) == 9 and cid.startswith("CUST-") and cid[5:].isdigit() for cid in ids)


@pytest.mark.parametrize("file_name", sorted(PER_CUSTOMER_RECORDS))
def test_each_customer_has_exactly_one_record_per_file(file_name):
    records = PER_CUSTOMER_RECORDS[file_name](load_data(file_name))
    ids = [record["customer_id"] for record in records]
    assert [cid for cid, n in Counter(ids).items() if n > 1] == []
    assert sorted(ids) == sorted(customer_ids())


def test_every_customer_id_mentioned_anywhere_is_a_customer():
    known = set(customer_ids())
    mentioned = set()
    for name in DATA_FILES:
        text = (DATA_DIR / name).read_text()
        mentioned |= {token for token in _tokens(json.loads(text)) if token.startswith("CUST-")}
    assert mentioned <= known
    assert {v["customer_id"] for v in load_data("dispatch.json")["visits"]} <= known


def _tokens(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _tokens(item)
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item)
    elif isinstance(value, str):
        yield value


def test_other_ids_are_unique_and_references_resolve():
    modems = load_data("modems.json")
    assert len({m["modem_id"] for m in modems["modems"]}) == len(modems["modems"])
    assert {m["model"] for m in modems["modems"]} <= set(modems["latest_firmware"])
    assert {m["reported_led"] for m in modems["modems"]} <= set(modems["led_guide"])
    plans = load_data("plans.json")
    assert {s["plan_id"] for s in plans["subscriptions"]} <= {p["plan_id"] for p in plans["plans"]}
    bills = [b["bill_id"] for s in plans["subscriptions"] for b in s["bills"]]
    assert len(set(bills)) == len(bills)
    dispatch = load_data("dispatch.json")
    slots = [s["slot_id"] for t in dispatch["technicians"] for s in t["slots"]]
    assert len(set(slots)) == len(slots)
    technicians = {t["technician_id"] for t in dispatch["technicians"]}
    assert {v["technician_id"] for v in dispatch["visits"]} <= technicians
    outages = load_data("outages.json")
    outage_ids = [o["outage_id"] for key in outages for o in outages[key]]
    assert len(set(outage_ids)) == len(outage_ids)


def test_credentials_are_salted_hashes_that_match_the_demo_identities():
    stored = load_data("credentials.json")
    scheme = ScryptScheme.from_json(stored["scheme"])
    salts = [record["salt"] for record in stored["credentials"]]
    assert len(set(salts)) == len(salts), "one salt per customer"
    customers = {c["customer_id"]: c for c in load_data("customers.json")["customers"]}
    assert sorted(IDENTITIES) == sorted(customers)
    for record in stored["credentials"]:
        first, last, postal, dob = IDENTITIES[record["customer_id"]]
        assert (
            customers[record["customer_id"]]["first_name"],
            customers[record["customer_id"]]["last_name"],
        ) == (first, last)
        secret = credential_secret(first, last, postal, dob)
        assert verify_credential(
            secret, bytes.fromhex(record["salt"]), bytes.fromhex(record["hash"]), scheme
        )


def test_dates_of_birth_appear_in_no_data_file():
    everything = "".join((DATA_DIR / name).read_text() for name in DATA_FILES)
    for _first, _last, _postal, dob in IDENTITIES.values():
        assert dob not in everything
