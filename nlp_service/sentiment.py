"""Sentiment of customer messages: a trained head on the encoder, with VADER beside it.

The head is a multinomial logistic regression over the text's pooled hidden
layers (the middle layers keep negation and tone that the last one blurs;
``layers`` in the artefact names them) and four VADER scores (compound,
positive, negative, neutral: VADER knows negation, intensifiers and emojis). It was trained by
``nlp_service/training/train_sentiment.py`` on the project's own labelled
messages and ships as ``artefacts/sentiment-head.json``, tied to the encoder
version it was trained on. With another encoder the head would read vectors it
never saw, so sentiment falls back to zero-shot label descriptions and says so
in ``method``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from nlp_service.encoder import Encoder, Encoding, Vectors
from nlp_service.zero_shot import Label, softmax

LABELS = ("positive", "negative", "neutral")
#: The head shipped with the service, trained on the packaged encoder.
PACKAGED_HEAD = Path(__file__).with_name("artefacts") / "sentiment-head.json"

#: What zero-shot compares a text to when no head fits the encoder.
ZERO_SHOT_LABELS = (
    Label("positive", "A happy, satisfied, grateful customer praising the service."),
    Label("negative", "An angry, frustrated, disappointed customer complaining about a problem."),
    Label("neutral", "A factual, logistical message: a question, a request or a status update."),
)

_vader = SentimentIntensityAnalyzer()


def vader_features(texts: Sequence[str]) -> np.ndarray:
    """Per text: VADER's compound, positive, negative and neutral scores."""
    rows = []
    for text in texts:
        scores = _vader.polarity_scores(text)
        rows.append([scores["compound"], scores["pos"], scores["neg"], scores["neu"]])
    return np.asarray(rows, dtype=np.float32).reshape(len(texts), 4)


def features(
    encoding: Encoding, texts: Sequence[str], layers: Sequence[int], vader_weight: float
) -> np.ndarray:
    """The head's input: the chosen layers side by side, then VADER's scores times a weight."""
    pooled = encoding.layers[:, list(layers), :].reshape(len(texts), -1)
    return np.hstack([pooled, vader_weight * vader_features(texts)]).astype(np.float32)


@dataclass(frozen=True)
class Sentiment:
    """One text's verdict: its label, the probability of that label, and how it was made."""

    label: str
    score: float
    method: str
    scores: dict[str, float]


@dataclass(frozen=True)
class SentimentHead:
    """The trained logistic regression and what it was trained on."""

    labels: tuple[str, ...]
    weights: np.ndarray  # (labels, features)
    bias: np.ndarray  # (labels,)
    layers: tuple[int, ...]
    vader_weight: float
    encoder_version: str
    version: str
    trained: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> SentimentHead:
        """Read an artefact written by the training script."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            labels=tuple(data["labels"]),
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=np.asarray(data["bias"], dtype=np.float32),
            layers=tuple(int(layer) for layer in data["layers"]),
            vader_weight=float(data["vader_weight"]),
            encoder_version=str(data["encoder_version"]),
            version=str(data["version"]),
            trained=dict(data.get("trained", {})),
        )

    def probabilities(self, encoding: Encoding, texts: Sequence[str]) -> np.ndarray:
        """Per text, the probability of each of ``labels``."""
        logits = features(encoding, texts, self.layers, self.vader_weight) @ self.weights.T
        logits = logits + self.bias
        return softmax(logits, temperature=1.0)


class SentimentModel:
    """Sentiment from embeddings: the head when it fits the encoder, else zero-shot."""

    def __init__(
        self,
        encoder_version: str,
        head: SentimentHead | None,
        zero_shot_prototypes: Vectors,
    ) -> None:
        self.head = head if head is not None and head.encoder_version == encoder_version else None
        self.prototypes = zero_shot_prototypes
        self.method = "head+vader" if self.head else "zero-shot"
        #: Part of every cache key: a new head never serves an old head's answer.
        self.version = self.head.version if self.head else "zero-shot-1"

    def predict(self, encoding: Encoding, texts: Sequence[str]) -> list[Sentiment]:
        """One verdict per text, in order."""
        if self.head is not None:
            probabilities = self.head.probabilities(encoding, texts)
            labels = self.head.labels
        else:
            probabilities = softmax(encoding.vectors @ self.prototypes.T)
            labels = LABELS
        verdicts = []
        for row in probabilities:
            best = int(np.argmax(row))
            verdicts.append(
                Sentiment(
                    label=labels[best],
                    score=round(float(row[best]), 4),
                    method=self.method,
                    scores={
                        label: round(float(p), 4) for label, p in zip(labels, row, strict=True)
                    },
                )
            )
        return verdicts


class Verdicts(list[Sentiment]):
    """A batch of verdicts that can be cut back into each request's part."""

    def rows(self, start: int, stop: int) -> Verdicts:
        return Verdicts(self[start:stop])


class PipelineSentiment:
    """A fine-tuned sequence-classification model, through ``transformers``' pipeline.

    Used instead of the head when the configured folder's ``config.json`` names a
    ``*ForSequenceClassification`` architecture (a DistilBERT SST-2 checkpoint an
    operator bakes into the image, say). Its labels are the model's own
    ``id2label`` names, lower-cased (``POSITIVE`` -> ``positive``).
    """

    method = "text-classification"

    def __init__(self, model_dir: Path, encoder: Encoder) -> None:
        from transformers import AutoModelForSequenceClassification, pipeline

        model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)  # nosec B615 # a local folder, local_files_only: nothing is downloaded
        self.pipeline = pipeline(
            "text-classification",
            model=model,
            tokenizer=encoder.tokenizer,
            device=encoder.device,
            top_k=None,
        )
        self.version = f"pipeline-{encoder.loaded.version}"

    def predict(self, texts: list[str]) -> Verdicts:
        """One verdict per text: the model's best label and every label's score."""
        outputs = self.pipeline(texts, batch_size=len(texts) or 1, truncation=True)
        verdicts = Verdicts()
        for output in outputs:
            ranked: list[dict[str, Any]] = output if isinstance(output, list) else [output]
            scores = {str(item["label"]).lower(): round(float(item["score"]), 4) for item in ranked}
            best = max(scores, key=scores.__getitem__)
            verdicts.append(Sentiment(best, scores[best], self.method, scores))
        return verdicts
