"""The generic matcher: which agent's skill a request's words point to, by a transparent score.

Used when nobody chose the agents (no `agents` in the request) and no playbook covers the
request. The score, per skill of each candidate agent:

- the request's words: lower case, letters and digits, at least 3 characters, common English
  words left out, a plural `s` dropped ("tides" is "tide");
- each word found in the skill's name or tags counts 2, else found in its description or
  examples counts 1, else 0; the skill's score is the sum;
- an agent scores its best skill's score.

The one agent with the highest score above 0 is asked. Two or more at the top (a tie) or none
above 0 ask nothing: the answer is a question back listing what the tied agents, else all of
them, can do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NAME_WEIGHT, TEXT_WEIGHT = 2, 1
MIN_WORD_CHARS = 3
_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    {
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "your",
        "yours",
        "with",
        "this",
        "that",
        "these",
        "those",
        "from",
        "have",
        "has",
        "had",
        "was",
        "were",
        "will",
        "would",
        "can",
        "could",
        "should",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "how",
        "all",
        "any",
        "some",
        "its",
        "our",
        "ours",
        "out",
        "about",
        "into",
        "over",
        "under",
        "again",
        "then",
        "than",
        "there",
        "their",
        "them",
        "they",
        "mine",
        "please",
        "thanks",
        "thank",
        "hello",
        "need",
        "want",
        "know",
        "tell",
        "give",
        "get",
        "got",
        "let",
        "just",
        "also",
        "like",
    }
)


def agent_label(name: str) -> str:
    """An agent as an answer names it: "the tides agent", never "the tides-agent agent"."""
    return name if name.endswith("agent") else f"{name} agent"


@dataclass(frozen=True)
class SkillText:
    """The words of one skill the matcher reads."""

    id: str
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """An agent the matcher may choose, with its skills."""

    name: str
    skills: tuple[SkillText, ...]

    @property
    def offer(self) -> str:
        """What the agent can do, as the question back lists it."""
        skills = ", ".join(skill.name for skill in self.skills)
        label = agent_label(self.name)
        return f"the {label} ({skills})" if skills else f"the {label}"


@dataclass(frozen=True)
class Match:
    """The chosen agent and skill, or the agents tied at the top (none when nothing scored)."""

    agent: Candidate | None = None
    skill_id: str = ""
    score: int = 0
    tied: tuple[Candidate, ...] = ()


def words(text: str) -> frozenset[str]:
    """The words of `text` that count (see the module docstring)."""
    found = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < MIN_WORD_CHARS or word in STOP_WORDS:
            continue
        found.add(word[:-1] if word.endswith("s") and len(word) > MIN_WORD_CHARS else word)
    return frozenset(found)


def _all_words(texts: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(words(text) for text in texts))


def skill_score(request_words: frozenset[str], skill: SkillText) -> int:
    """The score of one skill for the request's words."""
    named = _all_words((skill.name, skill.id.replace("_", " "), *skill.tags))
    described = _all_words((skill.description, *skill.examples))
    return sum(
        NAME_WEIGHT if word in named else TEXT_WEIGHT if word in described else 0
        for word in request_words
    )


def best_match(request: str, candidates: Sequence[Candidate]) -> Match:
    """The one best-scoring agent for `request`, or the tie (see the module docstring)."""
    request_words = words(request)
    scored: list[tuple[int, Candidate, str]] = []
    for candidate in candidates:
        best = max(
            ((skill_score(request_words, skill), skill.id) for skill in candidate.skills),
            default=(0, ""),
            key=lambda pair: pair[0],
        )
        scored.append((best[0], candidate, best[1]))
    top = max((score for score, _, _ in scored), default=0)
    if top == 0:
        return Match()
    leaders = [(candidate, skill) for score, candidate, skill in scored if score == top]
    if len(leaders) > 1:
        return Match(score=top, tied=tuple(candidate for candidate, _ in leaders))
    agent, skill_id = leaders[0]
    return Match(agent=agent, skill_id=skill_id, score=top)
