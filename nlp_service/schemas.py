"""Request and response models of the NLP API: the source of every parameter rule.

``openapi.yaml`` states the same rules for clients; ``tests/contract`` keeps the
two in step. A call carries 1 to 64 texts of at most 512 characters each; a
longer one is refused (422 naming its index, ``texts.3``) unless the caller
sends ``"truncate": true``, which cuts it to 512. An empty or whitespace-only
text is 422 too: there is nothing to score.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.cursors import Cursor
from shared.text import check_text, clean_label, clean_text

MAX_TEXTS = 64
MAX_CHARS = 512
MAX_LABELS = 20
MAX_EXAMPLES = 10


#: Free text as a note is (shared.text.clean_text): lines and tabs, no other controls,
#: something that shows; storable (no NUL, no unpaired surrogate).
Text = Annotated[
    str,
    Field(max_length=MAX_CHARS),
    AfterValidator(check_text),
    AfterValidator(clean_text),
]
Texts = Annotated[list[Text], Field(min_length=1, max_length=MAX_TEXTS)]


def _cut(texts: Any) -> Any:
    if isinstance(texts, list):
        return [text[:MAX_CHARS] if isinstance(text, str) else text for text in texts]
    return texts


class TextsRequest(BaseModel):
    """Texts to read; ``truncate`` cuts each to 512 characters instead of refusing it."""

    model_config = ConfigDict(extra="forbid")

    texts: Texts
    truncate: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _truncate(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("truncate") is True:
            return {**data, "texts": _cut(data.get("texts"))}
        return data


class EmbedRequest(TextsRequest):
    """``POST /nlp/embed``."""


class SentimentRequest(TextsRequest):
    """``POST /nlp/sentiment``."""


LabelName = Annotated[
    str, Field(min_length=1, max_length=64), AfterValidator(check_text), AfterValidator(clean_label)
]


Description = Annotated[
    str, Field(max_length=MAX_CHARS), AfterValidator(check_text), AfterValidator(clean_text)
]


class LabelSpec(BaseModel):
    """A caller's label: a name, and optionally a description and example sentences."""

    model_config = ConfigDict(extra="forbid")

    name: LabelName
    description: Description | None = None
    examples: Annotated[list[Text], Field(max_length=MAX_EXAMPLES)] = Field(default_factory=list)


class ClassifyRequest(TextsRequest):
    """``POST /nlp/classify``: texts ranked against 2 to 20 labels (each scored as sent)."""

    labels: Annotated[list[LabelSpec], Field(min_length=2, max_length=MAX_LABELS)]


class Pair(BaseModel):
    """Two texts to compare."""

    model_config = ConfigDict(extra="forbid")

    a: Text
    b: Text


class SimilarityRequest(BaseModel):
    """``POST /nlp/similarity``: 1 to 64 pairs."""

    model_config = ConfigDict(extra="forbid")

    pairs: Annotated[list[Pair], Field(min_length=1, max_length=MAX_TEXTS)]
    truncate: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _truncate(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("truncate") is True
            and isinstance(data.get("pairs"), list)
        ):
            pairs = [
                {key: _cut([value])[0] for key, value in pair.items()}
                if isinstance(pair, dict)
                else pair
                for pair in data["pairs"]
            ]
            return {**data, "pairs": pairs}
        return data


class ModelInfo(BaseModel):
    """Which model answered: its name, version (what caches are keyed by) and device."""

    name: str
    version: str
    device: str


class EmbedResponse(BaseModel):
    model: ModelInfo
    dimensions: int
    vectors: list[list[float]]


class SentimentResult(BaseModel):
    label: str
    score: float
    method: str
    scores: dict[str, float]


class SentimentResponse(BaseModel):
    model: ModelInfo
    results: list[SentimentResult]


class LabelScore(BaseModel):
    name: str
    score: float


class ClassifyResult(BaseModel):
    label: str
    labels: list[LabelScore]


class ClassifyResponse(BaseModel):
    model: ModelInfo
    results: list[ClassifyResult]


class SimilarityResult(BaseModel):
    score: float


class SimilarityResponse(BaseModel):
    model: ModelInfo
    results: list[SimilarityResult]


#: Batch jobs: rows read per job, and results per page.
MAX_JOB_ROWS = 100_000
MAX_RESULTS_PAGE = 1000


class JobTask(BaseModel):
    """What a batch job does: its task and (to classify) its labels; ``truncate`` long texts."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["sentiment", "classify"]
    labels: Annotated[list[LabelSpec], Field(min_length=2, max_length=MAX_LABELS)] | None = Field(
        default=None, validate_default=True
    )
    truncate: StrictBool = False

    @field_validator("labels")
    @classmethod
    def _labels_for_classify(
        cls, labels: list[LabelSpec] | None, info: ValidationInfo
    ) -> list[LabelSpec] | None:
        task = info.data.get("task")
        if task == "classify" and not labels:
            raise PydanticCustomError("missing", "a classify job needs 2 to 20 labels")
        if task == "sentiment" and labels:
            raise PydanticCustomError("extra_forbidden", "a sentiment job takes no labels")
        return labels


class JobOptions(JobTask):
    """A file upload's fields: the task, and the CSV column (or JSON field) with the text."""

    column: Annotated[str, Field(min_length=1, max_length=128)] = "text"


class JobTextsRequest(JobTask):
    """``POST /nlp/jobs`` as JSON: the texts in the body (a row that is not text fails alone)."""

    texts: Annotated[list[Any], Field(min_length=1, max_length=MAX_JOB_ROWS)]


class ResultsQuery(BaseModel):
    """``GET /nlp/jobs/{id}/results``: a page of rows as JSON, or every row as CSV."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=MAX_RESULTS_PAGE)] = 100
    cursor: Cursor | None = None
    format: Literal["json", "csv"] = "json"


class JobsQuery(BaseModel):
    """``GET /nlp/jobs``: the caller's latest jobs."""

    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=100)] = 20
