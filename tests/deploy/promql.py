"""The metric selectors inside a PromQL expression, found with regular expressions.

No maintained PromQL parser for Python is available here; the expressions of our
rules and dashboards use a small part of the language, and this reads that part:
metric names (an identifier that is neither a function, an aggregation, a keyword
nor a label name in ``by``/``on``/... lists) with their ``{...}`` matchers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Words that are never metric names where they appear.
KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    }
)
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
LABEL_LIST = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", re.IGNORECASE
)
RANGE = re.compile(r"\[[^\]]*\]")
IDENTIFIER = re.compile(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)(\s*\{[^}]*\})?(\s*\()?")
MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"")


@dataclass(frozen=True)
class Selector:
    """A metric name and the label matchers it was written with."""

    metric: str
    matchers: tuple[tuple[str, str, str], ...]

    @property
    def label_names(self) -> frozenset[str]:
        """The label names its matchers test."""
        return frozenset(name for name, _, _ in self.matchers)


def selectors(expression: str) -> list[Selector]:
    """Every metric selector of ``expression``, in order, each once."""
    # Matchers' string values may hold anything (even braces): read them first, keep
    # them out of the way as placeholders, and put them back in each selector's matchers.
    strings: list[str] = []

    def hide(match: re.Match[str]) -> str:
        strings.append(match.group(0))
        return f'"\x00{len(strings) - 1}"'

    text = STRING.sub(hide, expression)
    text = LABEL_LIST.sub(" ", RANGE.sub(" ", text))
    text = re.sub(r"\boffset\s+\w+", " ", text)
    found: list[Selector] = []
    for match in IDENTIFIER.finditer(text):
        name, braces, call = match.group(1), match.group(2), match.group(3)
        if call and not braces:
            continue  # a function or an aggregation: sum(...), rate(...)
        if name.lower() in KEYWORDS or re.fullmatch(r"\d\w*", name):
            continue
        matchers: list[tuple[str, str, str]] = []
        if braces:
            restored = re.sub(
                r'"\x00(\d+)"', lambda hole: strings[int(hole.group(1))], braces.strip()
            )
            matchers = [
                (label, operator, value) for label, operator, value in MATCHER.findall(restored)
            ]
        selector = Selector(name, tuple(matchers))
        if selector not in found:
            found.append(selector)
    return found
