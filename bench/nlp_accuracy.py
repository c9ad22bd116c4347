"""How often the NLP service is right, on held-out labelled sets: ``python -m bench.nlp_accuracy``.

Sentiment: the project's held-out customer messages (``bench/nlp_data/sentiment-holdout-*``,
never trained or tuned on; the head was trained on ``nlp_service/training/data/``),
scored three ways: the shipped head (``head+vader``, what the service answers),
plain zero-shot (one description per label, the floor MODELS.md measured), and
VADER alone (compound >= 0.05 positive, <= -0.05 negative, else neutral).
Prints accuracy, macro-F1 and per-label F1, and accuracy per hard-case tag.

Classification: the held-out topic messages (``bench/nlp_data/topics-holdout.jsonl``,
7 topics) ranked zero-shot against the labels of ``nlp_service/training/data/topics.json``,
with the label name only, name + description, and name + description + examples.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from nlp_service.encoder import Encoder, Encoding, packaged_model_dir
from nlp_service.sentiment import (
    LABELS,
    PACKAGED_HEAD,
    ZERO_SHOT_LABELS,
    SentimentHead,
    SentimentModel,
    vader_features,
)
from nlp_service.training.data import TRAINING_DATA, Example, Scores, read_examples, score
from nlp_service.zero_shot import Label, prototypes, rank

HELD_OUT = Path(__file__).with_name("nlp_data")


def encode(encoder: Encoder, texts: list[str]) -> Encoding:
    parts = [encoder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    return Encoding(np.vstack([p.vectors for p in parts]), np.vstack([p.layers for p in parts]))


def show(name: str, scores: Scores, labels: tuple[str, ...] = LABELS) -> None:
    per_label = "  ".join(f"{label} F1 {scores.per_label[label]['f1']:.2f}" for label in labels)
    print(
        f"  {name:<22} accuracy {scores.accuracy:.3f}  macro-F1 {scores.macro_f1:.3f}  {per_label}"
    )


def sentiment(encoder: Encoder) -> None:
    examples: list[Example] = read_examples(sorted(HELD_OUT.glob("sentiment-holdout-*.jsonl")))
    texts = [example.text for example in examples]
    truth = [example.label for example in examples]
    encoding = encode(encoder, texts)
    zero = prototypes(ZERO_SHOT_LABELS, encoder.embed)
    head = SentimentModel(encoder.loaded.version, SentimentHead.load(PACKAGED_HEAD), zero)
    plain = SentimentModel(encoder.loaded.version, None, zero)
    shipped = [verdict.label for verdict in head.predict(encoding, texts)]
    compound = vader_features(texts)[:, 0]
    vader = ["positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral" for c in compound]

    print(f"sentiment, {len(examples)} held-out messages (positive / negative / neutral):")
    show("head+vader (shipped)", score(truth, shipped, LABELS))
    show("plain zero-shot", score(truth, [v.label for v in plain.predict(encoding, texts)], LABELS))
    show("VADER alone", score(truth, vader, LABELS))
    trained = SentimentHead.load(PACKAGED_HEAD).trained
    print(f"  (the head's own 5-fold cross-validation on its training split: {trained})")
    by_tag: dict[str, list[bool]] = defaultdict(list)
    for example, predicted in zip(examples, shipped, strict=True):
        by_tag[example.tag].append(example.label == predicted)
    print(
        "  head+vader by hard case: "
        + ", ".join(
            f"{tag} {np.mean(hits):.2f} ({len(hits)})" for tag, hits in sorted(by_tag.items())
        )
    )


def topics(encoder: Encoder) -> None:
    spec = json.loads((TRAINING_DATA / "topics.json").read_text(encoding="utf-8"))["labels"]
    examples = read_examples([HELD_OUT / "topics-holdout.jsonl"])
    names = tuple(label["name"] for label in spec)
    texts = [example.text for example in examples]
    truth = [example.label for example in examples]
    vectors = encode(encoder, texts).vectors
    variants = {
        "name only": [Label(label["name"]) for label in spec],
        "name + description": [Label(label["name"], label["description"]) for label in spec],
        "+ examples": [
            Label(label["name"], label["description"], tuple(label["examples"])) for label in spec
        ],
    }
    print(f"classification, {len(examples)} held-out messages, {len(names)} topics (zero-shot):")
    for variant, labels in variants.items():
        _, probabilities = rank(vectors, prototypes(labels, encoder.embed))
        predicted = [names[int(np.argmax(row))] for row in probabilities]
        scores = score(truth, predicted, names)
        print(f"  {variant:<22} accuracy {scores.accuracy:.3f}  macro-F1 {scores.macro_f1:.3f}")


def main() -> None:
    encoder = Encoder(packaged_model_dir(), device="cpu")
    sentiment(encoder)
    topics(encoder)


if __name__ == "__main__":
    main()
