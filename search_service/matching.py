"""How the words of a query match documents: prefixes, typos, and exact emails and phones.

The rules, as users know them from Meilisearch:

* every query word matches a document word it starts (``ann`` finds "Anna");
* a word of 5 to 8 letters may also match a name or company word with one typo
  (an inserted, missing or changed letter), one of 9 letters or more with two;
  a typo on the first letter counts as two; a word shorter than 5 letters, or
  one with a digit in it, gets no typo;
* accents and case never matter ("Zoe Muller" finds "Zoë Müller"), as both
  sides go through the same ``unaccent`` text search configuration;
* a query that is an email or a phone number of a customer puts that customer first;
  one that is an email, or the start of one (``ada@exa``), matches customers' emails
  by that prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Words of a query beyond this many are ignored (they would only narrow the result).
MAX_TERMS = 10
#: Close words looked up per misspelt query word, closest first.
MAX_CLOSE_WORDS = 20
#: A query word starting more indexed words than this is searched as a prefix instead.
MAX_PREFIX_WORDS = 64
ONE_TYPO_FROM = 5
TWO_TYPOS_FROM = 9
#: What the customer service accepts as a phone number (its ``PHONE_PATTERN``).
PHONE = re.compile(r"\+?[0-9][0-9 ()\-.]{4,31}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def allowed_typos(word: str) -> int:
    """How many typos a query word may carry and still match: 0, 1 (5+ letters) or 2 (9+)."""
    if any(character.isdigit() for character in word):
        return 0  # numbers (postcodes, phone fragments) mean exactly what they say
    if len(word) >= TWO_TYPOS_FROM:
        return 2
    if len(word) >= ONE_TYPO_FROM:
        return 1
    return 0


@dataclass(frozen=True)
class TermMatch:
    """One query word, as a prefix, and the indexed words within its allowed typos.

    ``prefix_words`` are the indexed words it starts, when there are at most
    :data:`MAX_PREFIX_WORDS`; None when there are more (the word is then matched as
    a prefix by the index, which reads every document of every such word).
    """

    term: str
    close_words: tuple[str, ...] = ()
    prefix_words: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TextQuery:
    """What a non-empty ``q`` asks for: every term must match; an exact contact ranks first.

    Without terms, ``q`` is an email or the start of one: the emails starting with it match.
    """

    terms: tuple[TermMatch, ...]
    #: ``q`` itself, lower-cased, when it looks like an email address.
    email: str | None = None
    #: The digits of ``q`` when it looks like a phone number.
    phone_digits: str | None = None


def email_in(text: str) -> str | None:
    """The email ``text`` is, lower-cased (as the index keeps them), or None."""
    candidate = text.strip()
    return candidate.lower() if EMAIL.fullmatch(candidate) else None


def phone_digits_in(text: str) -> str | None:
    """The digits of the phone number ``text`` is, or None."""
    candidate = text.strip()
    if not PHONE.fullmatch(candidate):
        return None
    return "".join(character for character in candidate if character.isdigit())
