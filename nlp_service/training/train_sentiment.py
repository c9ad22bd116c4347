"""Train the sentiment head on the project's labelled messages and write the artefact.

    python -m nlp_service.training.train_sentiment [--output PATH]

Reads every ``data/sentiment-*.jsonl`` (the training split; the held-out split
in ``bench/nlp_data/`` is never read here), embeds the texts with the packaged
encoder, picks the layers, the L2 strength and the VADER weight by stratified 5-fold
cross-validation on the training split alone, trains on all of it and writes
``nlp_service/artefacts/sentiment-head.json``. Deterministic: the same data and
encoder give the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nlp_service.encoder import Encoder, Encoding, packaged_model_dir
from nlp_service.sentiment import LABELS, PACKAGED_HEAD, features
from nlp_service.training.data import TRAINING_DATA, read_examples, score

L2_GRID = (1e-4, 1e-3)
VADER_GRID = (0.0, 1.0)
#: The last layer alone (the embedding), or the middle-to-last layers side by side.
LAYER_GRID = ((6,), (2, 3, 4, 5, 6))
FOLDS = 5


def fit(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L-BFGS, L2 on the weights): weights, bias."""
    torch.manual_seed(0)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    weights = torch.zeros((len(LABELS), x.shape[1]), requires_grad=True)
    bias = torch.zeros(len(LABELS), requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(inputs @ weights.T + bias, targets)
        loss = loss + l2 * weights.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    return weights.detach().numpy(), bias.detach().numpy()


def folds(y: np.ndarray, count: int) -> list[np.ndarray]:
    """Stratified fold number per row: each label spread evenly over the folds."""
    assignment = np.zeros(len(y), dtype=int)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        assignment[rows] = np.arange(len(rows)) % count
    return [np.flatnonzero(assignment == k) for k in range(count)]


def cross_validate(encoding: Encoding, texts: list[str], y: np.ndarray) -> list[dict[str, Any]]:
    """Macro-F1 and accuracy of every grid point, over the folds."""
    results = []
    parts = folds(y, FOLDS)
    for layers, l2, vader_weight in itertools.product(LAYER_GRID, L2_GRID, VADER_GRID):
        x = features(encoding, texts, layers, vader_weight)
        predicted = np.zeros_like(y)
        for held in parts:
            train = np.setdiff1d(np.arange(len(y)), held)
            weights, bias = fit(x[train], y[train], l2)
            predicted[held] = np.argmax(x[held] @ weights.T + bias, axis=1)
        scores = score([LABELS[i] for i in y], [LABELS[i] for i in predicted], LABELS)
        results.append(
            {
                "layers": list(layers),
                "l2": l2,
                "vader_weight": vader_weight,
                "accuracy": round(scores.accuracy, 4),
                "macro_f1": round(scores.macro_f1, 4),
                "neutral_f1": round(scores.per_label["neutral"]["f1"], 4),
            }
        )
        print(
            f"  layers={','.join(map(str, layers)):<10} l2={l2:<7} vader={vader_weight:<4}"
            f" cv accuracy {scores.accuracy:.3f}  macro-F1 {scores.macro_f1:.3f}"
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=PACKAGED_HEAD)
    parser.add_argument(
        "--data", type=Path, default=TRAINING_DATA, help="folder of sentiment-*.jsonl files"
    )
    args = parser.parse_args(argv)

    files = sorted(args.data.glob("sentiment-*.jsonl"))
    examples = read_examples(files)
    texts = [example.text for example in examples]
    y = np.asarray([LABELS.index(example.label) for example in examples], dtype=np.int64)
    print(f"{len(examples)} training messages from {len(files)} files")
    encoder = Encoder(packaged_model_dir(), device="cpu")
    parts = [encoder.encode(texts[i : i + 64]) for i in range(0, len(texts), 64)]
    encoding = Encoding(
        np.vstack([part.vectors for part in parts]), np.vstack([part.layers for part in parts])
    )

    grid = cross_validate(encoding, texts, y)
    best = max(grid, key=lambda row: (row["macro_f1"], row["accuracy"]))
    print(f"chosen: layers={best['layers']} l2={best['l2']} vader_weight={best['vader_weight']}")
    chosen = features(encoding, texts, best["layers"], best["vader_weight"])
    weights, bias = fit(chosen, y, best["l2"])

    artefact = {
        "labels": list(LABELS),
        "encoder_version": encoder.loaded.version,
        "layers": best["layers"],
        "vader_weight": best["vader_weight"],
        "weights": np.round(weights, 6).tolist(),
        "bias": np.round(bias, 6).tolist(),
        "trained": {
            "examples": len(examples),
            "l2": best["l2"],
            "cross_validation": {
                "folds": FOLDS,
                "accuracy": best["accuracy"],
                "macro_f1": best["macro_f1"],
                "neutral_f1": best["neutral_f1"],
            },
        },
    }
    body = json.dumps(artefact, sort_keys=True)
    artefact["version"] = "head-" + hashlib.sha256(body.encode()).hexdigest()[:12]
    args.output.write_text(json.dumps(artefact, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({artefact['version']})")


if __name__ == "__main__":
    main()
