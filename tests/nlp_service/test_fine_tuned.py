"""A fine-tuned classification model, configured by folder alone, answers sentiment itself.

The test builds a tiny ``BertForSequenceClassification`` (random weights, two
layers) with the packaged tokenizer and saves it: what is asserted is the path
(labels from ``id2label``, shapes, batching, the cache version), not accuracy.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nlp_service.encoder import packaged_model_dir
from nlp_service.engine import Engine, EngineOptions


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-sst")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (packaged_model_dir() / name).exists():
            shutil.copy(packaged_model_dir() / name, folder / name)
    return folder


def test_a_classification_folder_answers_sentiment_with_its_own_labels(
    tiny_classifier: Path,
) -> None:
    engine = Engine(EngineOptions(model_dir=tiny_classifier, device="cpu")).load()

    assert engine.classifier is not None
    verdicts = engine.classify_sentiment(["great service", "awful", "where is my order?"])

    assert len(verdicts) == 3
    for verdict in verdicts:
        assert verdict.method == "text-classification"
        assert set(verdict.scores) == {"negative", "positive"}
        assert verdict.label in {"negative", "positive"}
        assert abs(sum(verdict.scores.values()) - 1) < 1e-3
    # Its embeddings come from the same checkpoint's encoder.
    assert engine.encode(["hello"]).vectors.shape == (1, 32)


def test_concurrent_callers_share_the_classifiers_passes(tiny_classifier: Path) -> None:
    engine = Engine(
        EngineOptions(model_dir=tiny_classifier, device="cpu", max_batch_wait_seconds=0.02)
    ).load()
    texts = [[f"message {i}"] for i in range(12)]

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(engine.classify_sentiment, texts))

    assert [len(answer) for answer in answers] == [1] * 12
    one_by_one = [engine.classify_sentiment(text)[0].scores for text in texts]
    for answer, alone in zip(answers, one_by_one, strict=True):
        assert answer[0].scores == pytest.approx(alone, abs=1e-3)
