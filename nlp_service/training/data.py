"""The labelled messages: reading them and scoring predictions against them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: Training (and tuning) data; never evaluated on. The held-out split is in bench/nlp_data/.
TRAINING_DATA = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Example:
    """One labelled text (``tag`` names the hard case it is, or ``none``)."""

    text: str
    label: str
    tag: str = "none"
    source: str = ""


def read_examples(paths: Sequence[Path]) -> list[Example]:
    """Every line of every JSON Lines file, in order."""
    examples = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                examples.append(
                    Example(
                        row["text"], row["label"], row.get("tag", "none"), row.get("source", "")
                    )
                )
    return examples


@dataclass(frozen=True)
class Scores:
    """Accuracy, macro-F1 and per-label precision, recall and F1."""

    accuracy: float
    macro_f1: float
    per_label: dict[str, dict[str, float]]
    count: int


def score(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> Scores:
    """Compare predictions with the labels, as a human would read the figures."""
    per_label = {}
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1}
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    return Scores(
        accuracy=correct / len(truth) if truth else 0.0,
        macro_f1=sum(v["f1"] for v in per_label.values()) / len(labels),
        per_label=per_label,
        count=len(truth),
    )
