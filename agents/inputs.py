"""Reading a request: named fields of `data` parts first, then the obvious fields in free text."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_CUSTOMER_ID = re.compile(r"\bCUST-?(\d{3,4})\b", re.IGNORECASE)
_POSTAL_CODE = re.compile(r"\b([A-Z]\d[A-Z])\s?(\d[A-Z]\d)\b", re.IGNORECASE)
_NAME_WORD = r"[A-Za-z][A-Za-z'\-]*"
_FULL_NAME = re.compile(
    rf"\b(?:my name is|i am|i'm|this is|name:)\s+({_NAME_WORD})\s+({_NAME_WORD})", re.IGNORECASE
)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_MONTH_PREFIXES = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
_MONTH = rf"({'|'.join(_MONTH_PREFIXES)})[a-z]*\.?"
_MONTH_FIRST_DATE = re.compile(rf"\b{_MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)
_DAY_FIRST_DATE = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+{_MONTH},?\s+(\d{{4}})\b", re.I)
_APPROVE = re.compile(r"\b(approve|approved|yes|go ahead|confirm|confirmed)\b", re.IGNORECASE)
_DECLINE = re.compile(r"\b(decline|declined|reject|rejected|deny|denied|no)\b", re.IGNORECASE)

# Words a person uses for a modem light -> our LED state names.
LED_STATES = ("solid-white", "blinking-white", "solid-yellow", "blinking-yellow", "red", "off")
_LED_PATTERNS = (
    ("off", re.compile(r"\b(no lights?|lights? (is |are )?off|off|dark|no power)\b", re.I)),
    ("red", re.compile(r"\bred\b", re.I)),
    ("blinking-yellow", re.compile(r"\b(blinking|flashing) (yellow|orange|amber)\b", re.I)),
    ("solid-yellow", re.compile(r"\b(solid|steady)? ?(yellow|orange|amber)\b", re.I)),
    ("blinking-white", re.compile(r"\b(blinking|flashing) white\b", re.I)),
    ("solid-white", re.compile(r"\b(solid|steady)? ?white\b", re.I)),
)


@dataclass(frozen=True)
class RequestInput:
    """What a user message carried: merged `data` objects and the joined text; and who sent it
    (the verified caller, agents/executors.py: only the authentication agent's limits use it)."""

    data: dict[str, Any]
    text: str
    caller: str = ""


@dataclass(frozen=True)
class InputField:
    """One named input of a skill: how to normalize a `data` value and find it in free text."""

    name: str
    description: str
    example: str
    normalize: Callable[[Any], Any]
    from_text: Callable[[str], Any]
    required: bool = True


def read_input(data_parts: Iterable[Any], text_parts: Iterable[str]) -> RequestInput:
    """Merge the object-valued data parts (later ones win) and join the text parts."""
    data: dict[str, Any] = {}
    for part in data_parts:
        if isinstance(part, dict):
            data.update(part)
    return RequestInput(data=data, text="\n".join(t for t in text_parts if t))


def collect_fields(fields: Iterable[InputField], request: RequestInput) -> dict[str, Any]:
    """Each field's value: from `data` when present and valid, else parsed from the text."""
    values: dict[str, Any] = {}
    for spec in fields:
        value = None
        if request.data.get(spec.name) is not None:
            value = spec.normalize(request.data[spec.name])
        if value is None and request.text:
            value = spec.from_text(request.text)
        if value is not None:
            values[spec.name] = value
    return values


def customer_id(value: Any) -> str | None:
    """`CUST-0001` from forms like `cust-0001`, `CUST0001` or `CUST001`."""
    if not isinstance(value, str):
        return None
    match = _CUSTOMER_ID.fullmatch(value.strip())
    return f"CUST-{int(match.group(1)):04d}" if match else None


def customer_id_in_text(text: str) -> str | None:
    """The first customer id mentioned in `text`."""
    match = _CUSTOMER_ID.search(text)
    return f"CUST-{int(match.group(1)):04d}" if match else None


def postal_code(value: Any) -> str | None:
    """A Canadian postal code as `A1A 1A1`."""
    if not isinstance(value, str):
        return None
    match = _POSTAL_CODE.fullmatch(value.strip())
    return f"{match.group(1)} {match.group(2)}".upper() if match else None


def postal_code_in_text(text: str) -> str | None:
    """The first postal code mentioned in `text`."""
    match = _POSTAL_CODE.search(text)
    return f"{match.group(1)} {match.group(2)}".upper() if match else None


def name_word(value: Any) -> str | None:
    """A first or last name, trimmed and title-cased."""
    if not isinstance(value, str) or not re.fullmatch(_NAME_WORD, value.strip()):
        return None
    return value.strip().title()


def first_name_in_text(text: str) -> str | None:
    """X from "my name is X Y" (also "I am", "I'm", "this is")."""
    match = _FULL_NAME.search(text)
    return match.group(1).title() if match else None


def last_name_in_text(text: str) -> str | None:
    """Y from "my name is X Y" (also "I am", "I'm", "this is")."""
    match = _FULL_NAME.search(text)
    return match.group(2).title() if match else None


def iso_date(value: Any) -> str | None:
    """A calendar date as `YYYY-MM-DD` (accepts the forms `date_in_text` finds)."""
    if not isinstance(value, str):
        return None
    return date_in_text(value.strip())


def date_in_text(text: str) -> str | None:
    """The first date in `text`: `1985-03-14`, `March 14, 1985` or `14 March 1985`."""
    candidates = []
    for match in _ISO_DATE.finditer(text):
        candidates.append((match.start(), (match.group(1), match.group(2), match.group(3))))
    for match in _MONTH_FIRST_DATE.finditer(text):
        named = _month_number(match.group(1))
        candidates.append((match.start(), (match.group(3), named, match.group(2))))
    for match in _DAY_FIRST_DATE.finditer(text):
        named = _month_number(match.group(2))
        candidates.append((match.start(), (match.group(3), named, match.group(1))))
    for _, (year, month, day) in sorted(candidates):
        try:
            return dt.date(int(year), int(month), int(day)).isoformat()
        except ValueError:
            continue
    return None


def _month_number(word: str) -> int:
    return _MONTH_PREFIXES.index(word[:3].lower()) + 1


def led_state(value: Any) -> str | None:
    """One of LED_STATES, from a name like `blinking_yellow` or a phrase like "flashing orange"."""
    if not isinstance(value, str):
        return None
    normalized = value.strip().lower().replace("_", "-")
    if normalized in LED_STATES:
        return normalized
    return led_state_in_text(value)


def led_state_in_text(text: str) -> str | None:
    """The modem light a person describes in `text`."""
    for state, pattern in _LED_PATTERNS:
        if pattern.search(text):
            return state
    return None


def approval(value: Any) -> bool | None:
    """A yes/no decision from a JSON boolean."""
    return value if isinstance(value, bool) else None


def approval_in_text(text: str) -> bool | None:
    """True for "approved"/"yes", False for "declined"/"no", None when unclear or both."""
    approves, declines = bool(_APPROVE.search(text)), bool(_DECLINE.search(text))
    if approves == declines:
        return None
    return approves


def short_text(value: Any) -> str | None:
    """A trimmed, non-empty string of at most 500 characters."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:500]


def nothing_in_text(text: str) -> None:
    """For fields that are only taken from `data`."""
    return None


CUSTOMER_ID = InputField(
    name="customerId",
    description="customer id",
    example="CUST-0001",
    normalize=customer_id,
    from_text=customer_id_in_text,
)
