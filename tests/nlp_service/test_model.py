"""The real packaged model: what holds for any sane encoder, and the sentiment it ships with.

No mocks: every assertion runs the model. They assert what any working encoder
and head get right (paraphrases nearest, clear messages labelled), not figures;
the accuracy figures are measured by ``bench/nlp_accuracy.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlp_service.encoder import (
    Encoder,
    ModelError,
    is_sequence_classifier,
    model_version,
    packaged_model_dir,
    select_device,
)
from nlp_service.engine import Engine
from nlp_service.sentiment import PACKAGED_HEAD, SentimentHead, SentimentModel
from nlp_service.zero_shot import Label, prototypes, rank


def test_vectors_are_unit_length_and_a_sentence_is_nearest_its_paraphrase(engine: Engine) -> None:
    sentences = [
        "The invoice for March has not been paid yet.",
        "March's bill is still unpaid.",
        "The parcel was left at the wrong address.",
        "Our team loves the new dashboard.",
        "It rained all weekend in Lisbon.",
    ]
    assert engine.encoder is not None
    vectors = engine.encoder.embed(sentences)

    assert vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarities = vectors @ vectors.T
    np.fill_diagonal(similarities, -1)
    assert int(np.argmax(similarities[0])) == 1
    assert int(np.argmax(similarities[1])) == 0


def test_a_text_embeds_the_same_alone_and_in_a_padded_batch(engine: Engine) -> None:
    assert engine.encoder is not None
    alone = engine.encoder.embed(["short"])[0]
    batched = engine.encoder.embed(["short", "a much longer sentence that forces padding " * 5])[0]
    assert np.allclose(alone, batched, atol=1e-5)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thank you so much, the support team fixed everything within an hour!", "positive"),
        ("Absolutely love the new release, it saves us hours every week.", "positive"),
        (
            "This is the third outage this month and nobody answers our tickets. Unacceptable.",
            "negative",
        ),
        ("I was charged twice and still have no refund. Very disappointed.", "negative"),
        ("Please send the invoice for order 4411 to accounts@example.com.", "neutral"),
        ("Can we move Thursday's call to 3pm?", "neutral"),
    ],
)
def test_clear_messages_get_their_sentiment(engine: Engine, text: str, label: str) -> None:
    assert engine.sentiment is not None
    assert engine.encoder is not None
    verdict = engine.sentiment.predict(engine.encoder.encode([text]), [text])[0]
    assert verdict.label == label, verdict
    assert verdict.method == "head+vader"
    assert abs(sum(verdict.scores.values()) - 1) < 1e-3


def test_classify_ranks_billing_above_shipping_for_an_overdue_invoice(engine: Engine) -> None:
    assert engine.encoder is not None
    labels = [
        Label("billing", "Invoices, payments, charges and refunds."),
        Label("shipping", "Delivery, parcels, couriers and tracking."),
        Label("technical issue", "Bugs, errors and outages."),
    ]
    _, probabilities = rank(
        engine.encoder.embed(["invoice overdue"]), prototypes(labels, engine.encoder.embed)
    )
    assert probabilities[0][0] > probabilities[0][1]
    assert int(np.argmax(probabilities[0])) == 0


def test_the_head_is_not_used_with_an_encoder_it_was_not_trained_on(engine: Engine) -> None:
    head = SentimentHead.load(PACKAGED_HEAD)
    assert engine.encoder is not None
    assert head.encoder_version == engine.encoder.loaded.version  # shipped for this model
    zero = prototypes(
        [Label("positive"), Label("negative"), Label("neutral")], engine.encoder.embed
    )

    other = SentimentModel("another-encoder", head, zero)

    assert other.head is None
    assert other.method == "zero-shot"
    text = "We are thrilled with the service, thank you!"
    verdict = other.predict(engine.encoder.encode([text]), [text])[0]
    assert verdict.method == "zero-shot"
    assert verdict.label in {"positive", "negative", "neutral"}


def test_the_device_is_chosen_by_configuration() -> None:
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in {"cpu", "cuda"}
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA device"):
            select_device("cuda")
    with pytest.raises(ModelError):
        select_device("toaster")


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"config\.json is missing"):
        Encoder(tmp_path)


def test_the_model_version_follows_the_weights(tmp_path: Path) -> None:
    packaged = packaged_model_dir()
    copy = tmp_path / "model"
    copy.mkdir()
    shutil.copy(packaged / "config.json", copy / "config.json")
    (copy / "model.safetensors").write_bytes(b"weights one")
    first = model_version(copy)
    (copy / "model.safetensors").write_bytes(b"weights two")
    assert model_version(copy) != first
    assert model_version(packaged) == model_version(packaged)


def test_only_a_classification_checkpoint_goes_through_the_pipeline() -> None:
    config = json.loads((packaged_model_dir() / "config.json").read_text())
    assert not is_sequence_classifier(config)
    assert is_sequence_classifier({"architectures": ["DistilBertForSequenceClassification"]})
