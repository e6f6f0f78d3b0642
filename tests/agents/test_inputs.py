"""Reading requests: data fields first, obvious fields parsed from free text."""

import pytest

from agents import inputs
from agents.inputs import CUSTOMER_ID, RequestInput, collect_fields, read_input

# (what is read, the text, the value read from it)
FROM_TEXT = [
    (inputs.customer_id_in_text, "customer CUST-0007 here", "CUST-0007"),
    (inputs.customer_id_in_text, "my id is cust0012", "CUST-0012"),
    (inputs.customer_id_in_text, "old id CUST005", "CUST-0005"),
    (inputs.customer_id_in_text, "no id at all", None),
    (inputs.postal_code_in_text, "postal code m5h1a1", "M5H 1A1"),
    (inputs.postal_code_in_text, "K1P 5J2 please", "K1P 5J2"),
    (inputs.postal_code_in_text, "12345", None),
    (inputs.date_in_text, "born 1985-03-14", "1985-03-14"),
    (inputs.date_in_text, "born March 14, 1985", "1985-03-14"),
    (inputs.date_in_text, "born on the 14th of", None),
    (inputs.date_in_text, "born 14 Mar 1985", "1985-03-14"),
    (inputs.date_in_text, "on 2026-02-30 or else Dec 1, 2026", "2026-12-01"),
    (inputs.led_state_in_text, "the light is flashing orange", "blinking-yellow"),
    (inputs.led_state_in_text, "it's solid yellow", "solid-yellow"),
    (inputs.led_state_in_text, "blinking white", "blinking-white"),
    (inputs.led_state_in_text, "steady white light", "solid-white"),
    (inputs.led_state_in_text, "there's a red light", "red"),
    (inputs.led_state_in_text, "no lights at all", "off"),
    (inputs.led_state_in_text, "it looks fine", None),
]


@pytest.mark.parametrize(
    ("read", "text", "expected"),
    FROM_TEXT,
    ids=[f"{read.__name__}-{text}" for read, text, _ in FROM_TEXT],
)
def test_read_from_text(read, text, expected):
    assert read(text) == expected


def test_customer_id_value_must_be_the_whole_string():
    assert inputs.customer_id(" cust-0003 ") == "CUST-0003"
    assert inputs.customer_id("I am CUST-0003") is None
    assert inputs.customer_id(3) is None


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("Hi, my name is jane doe and", "Jane", "Doe"),
        ("I'm Liam O'Brien", "Liam", "O'Brien"),
        ("this is Marc Tremblay calling", "Marc", "Tremblay"),
        ("hello there", None, None),
    ],
)
def test_names_in_text(text, first, last):
    assert inputs.first_name_in_text(text) == first
    assert inputs.last_name_in_text(text) == last


def test_led_state_value_accepts_names_and_phrases():
    assert inputs.led_state("BLINKING_YELLOW") == "blinking-yellow"
    assert inputs.led_state("flashing amber") == "blinking-yellow"
    assert inputs.led_state("purple") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Approved, go ahead", True),
        ("declined", False),
        ("no", False),
        ("yes and no", None),
        ("", None),
    ],
)
def test_approval_in_text(text, expected):
    assert inputs.approval_in_text(text) is expected


def test_read_input_merges_object_data_parts_and_joins_text():
    request = read_input([{"a": 1}, ["not", "an", "object"], {"a": 2, "b": 3}], ["one", "", "two"])
    assert request == RequestInput(data={"a": 2, "b": 3}, text="one\ntwo")


def test_data_field_wins_over_text_and_invalid_data_falls_back_to_text():
    text = "I am CUST-0002"
    assert collect_fields([CUSTOMER_ID], RequestInput({"customerId": "CUST-0009"}, text)) == {
        "customerId": "CUST-0009"
    }
    assert collect_fields([CUSTOMER_ID], RequestInput({"customerId": 42}, text)) == {
        "customerId": "CUST-0002"
    }
    assert collect_fields([CUSTOMER_ID], RequestInput({}, "nothing")) == {}
