"""The training script rebuilds a head the service loads, and the scoring reads as it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp_service.encoder import model_version, packaged_model_dir
from nlp_service.sentiment import LABELS, SentimentHead
from nlp_service.training import train_sentiment
from nlp_service.training.data import read_examples, score

MESSAGES = {
    "positive": [
        "Thank you, the team solved it in minutes!",
        "Love the new dashboard, great work.",
        "Brilliant service, we are renewing for sure.",
        "The refund arrived quickly, very happy.",
        "Support was friendly and fast, thanks a lot.",
    ],
    "negative": [
        "Third outage this week, this is unacceptable.",
        "Still no refund after a month. Furious.",
        "The app crashes every time I log in. Useless.",
        "Nobody answers our tickets anymore, very disappointed.",
        "Charged twice and the chat bot keeps ignoring me.",
    ],
    "neutral": [
        "Please send the invoice for March to accounts.",
        "Can we move the call to Thursday at 3pm?",
        "Our office address changed to 12 Main Street.",
        "How do I export the contacts to CSV?",
        "The order number is 44-1187.",
    ],
}


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    lines = [
        json.dumps({"text": text, "label": label, "source": "ticket", "tag": "none"})
        for label, texts in MESSAGES.items()
        for text in texts
    ]
    (tmp_path / "sentiment-small.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_the_script_trains_a_head_the_service_can_load(data_folder: Path, tmp_path: Path) -> None:
    output = tmp_path / "head.json"

    train_sentiment.main(["--data", str(data_folder), "--output", str(output)])

    head = SentimentHead.load(output)
    assert head.labels == LABELS
    assert head.encoder_version == model_version(packaged_model_dir())
    assert head.version.startswith("head-")
    assert head.weights.shape == (3, 384 * len(head.layers) + 4)
    assert head.trained["examples"] == 15
    assert head.trained["cross_validation"]["folds"] == train_sentiment.FOLDS


def test_folds_spread_every_label_evenly() -> None:
    import numpy as np

    labels = np.array([0] * 10 + [1] * 10 + [2] * 5)
    parts = train_sentiment.folds(labels, 5)

    assert sorted(np.concatenate(parts).tolist()) == list(range(25))
    for part in parts:
        assert sorted(labels[part].tolist()) == [0, 0, 1, 1, 2]


def test_scores_are_accuracy_macro_f1_and_per_label() -> None:
    truth = ["positive", "negative", "neutral", "neutral"]
    predicted = ["positive", "neutral", "neutral", "neutral"]

    scores = score(truth, predicted, LABELS)

    assert scores.accuracy == 0.75
    assert scores.per_label["negative"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert scores.per_label["neutral"]["precision"] == pytest.approx(2 / 3)
    assert scores.per_label["positive"]["f1"] == 1.0
    assert scores.macro_f1 == pytest.approx((1.0 + 0.0 + 0.8) / 3)


def test_examples_are_read_line_by_line(data_folder: Path) -> None:
    examples = read_examples(sorted(data_folder.glob("*.jsonl")))

    assert len(examples) == 15
    assert examples[0].label == "positive"
    assert examples[0].tag == "none"
