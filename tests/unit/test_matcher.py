"""The generic matcher's score (voicea2a/matcher.py), case by case."""

from __future__ import annotations

import pytest

from voicea2a.matcher import Candidate, SkillText, agent_label, best_match, skill_score, words

TIDES = Candidate(
    "tide-tables",
    (
        SkillText(
            "tide_tables",
            "Tide tables",
            "High and low tide times for a harbour.",
            ("tides", "harbour"),
            ("When is high tide in Halifax today?",),
        ),
    ),
)
WEATHER = Candidate(
    "weather",
    (
        SkillText("forecast", "Forecast", "Rain, wind and sun for the days ahead.", ("weather",)),
        SkillText("marine", "Marine forecast", "Wind and waves at a harbour.", ("marine",)),
    ),
)


def test_words_drop_short_and_common_words_and_plural_s():
    assert words("When are the TIDES in Halifax, please?") == {"tide", "halifax"}


@pytest.mark.parametrize(
    ("request_text", "skill", "score"),
    [
        ("tides", TIDES.skills[0], 2),  # in the name and tags: 2
        ("times for Halifax", TIDES.skills[0], 2),  # description and example: 1 each
        ("high tide in Halifax", TIDES.skills[0], 4),
        ("sing a song", TIDES.skills[0], 0),
    ],
)
def test_a_skill_scores_two_per_name_or_tag_word_and_one_per_description_word(
    request_text, skill, score
):
    assert skill_score(words(request_text), skill) == score


def test_the_one_best_agent_is_chosen_with_its_best_skill():
    match = best_match("Wind and waves at the harbour for my boat?", [TIDES, WEATHER])
    assert (match.agent, match.skill_id) == (WEATHER, "marine")


def test_a_tie_names_the_tied_agents_and_chooses_none():
    match = best_match("high wind", [TIDES, WEATHER])  # 1 each: a description word
    assert match.agent is None and match.tied == (TIDES, WEATHER)


def test_no_match_chooses_none():
    assert best_match("sing me a song", [TIDES, WEATHER]) == best_match("", [])


def test_agents_are_named_once_as_agents():
    assert (agent_label("tides"), agent_label("billing-agent")) == ("tides agent", "billing-agent")
    assert TIDES.offer == "the tide-tables agent (Tide tables)"
