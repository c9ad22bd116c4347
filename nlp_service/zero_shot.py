"""Zero-shot scoring: a text against labels, each described by a few sentences.

A label's prototype is the normalised mean of the embeddings of its name, its
description and its example sentences; a text's score for a label is the cosine
of the two, turned into a distribution with a softmax at a fixed temperature
(cosines of one encoder sit in a narrow band, so the temperature spreads them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nlp_service.encoder import Vectors

#: Softmax temperature over cosines; measured on the topic set (bench/nlp_accuracy.py).
TEMPERATURE = 0.05


@dataclass(frozen=True)
class Label:
    """A caller's label: its name, and optionally what it means and how it reads."""

    name: str
    description: str | None = None
    examples: tuple[str, ...] = field(default_factory=tuple)

    def sentences(self) -> list[str]:
        """What the prototype is built from: the name (as words), description, examples."""
        return [self.name.replace("_", " "), *filter(None, [self.description]), *self.examples]


def unit(vectors: Vectors) -> Vectors:
    """Rows scaled to length 1 (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    scaled: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def prototypes(labels: Sequence[Label], embed: Callable[[list[str]], Vectors]) -> Vectors:
    """One unit vector per label, from one embedding call over every label's sentences."""
    sentences = [label.sentences() for label in labels]
    vectors = embed([text for group in sentences for text in group])
    rows, start = [], 0
    for group in sentences:
        rows.append(vectors[start : start + len(group)].mean(axis=0))
        start += len(group)
    return unit(np.stack(rows))


def softmax(scores: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``."""
    scaled = scores / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    result: np.ndarray = weights / weights.sum(axis=-1, keepdims=True)
    return result


def rank(texts: Vectors, labels: Vectors) -> tuple[np.ndarray, np.ndarray]:
    """Per text: the cosines to each label and their softmax probabilities."""
    cosines = texts @ labels.T
    return cosines, softmax(cosines)
