"""Embeddings in memory: the vectors of one model version as a float32 matrix, matched exactly.

Framework-free (numpy only). A :class:`VectorIndex` holds one row per stored
embedding (a customer's profile, each of its notes) and is kept current from the
store's change feed (:class:`VectorChange`, in stamp order). :meth:`VectorIndex.match`
scores every row against a query vector in one matrix product, keeps the rows at
or above a similarity floor, and gives each customer the score of its best row
(its profile or one of its notes).

Scores are recomputed in float64 for the rows the float32 product lets through,
so a customer's score is the same whatever else the matrix holds or however
BLAS splits the product: a cursor holding a score finds it again on the next page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt

#: How the store keeps a vector: float32, little-endian.
FLOAT32 = np.dtype("<f4")
PROFILE = "profile"
NOTE = "note"
#: The float32 product may be this far from the exact cosine (384 dimensions: about 1e-6);
#: rows this close under the floor are rescored exactly before the floor is applied.
SCREENING_SLACK = 1e-4
#: Decimals a score keeps (float32 vectors hold about seven significant digits).
SCORE_DECIMALS = 6
INITIAL_CAPACITY = 1024
#: How much a full matrix grows by (a first load reserves what the store holds instead).
GROWTH = 1.5

Vector = npt.NDArray[np.float32]


def unit_vector(values: Sequence[float] | npt.ArrayLike) -> Vector:
    """``values`` scaled to length 1, as float32; ValueError unless a finite, non-zero vector."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError("an embedding must be a non-empty list of finite numbers")
    norm = float(np.linalg.norm(array))
    if norm == 0.0:
        raise ValueError("an embedding must not be all zeros")
    return (array / norm).astype(FLOAT32)


def vector_bytes(values: Sequence[float] | npt.ArrayLike) -> bytes:
    """``values`` as the store keeps them: L2-normalised float32, little-endian."""
    return unit_vector(values).tobytes()


def vector_from_bytes(data: bytes | memoryview) -> Vector:
    """A stored vector back as a float32 array."""
    return np.frombuffer(data, dtype=FLOAT32)


@dataclass(frozen=True)
class VectorChange:
    """One entry of the store's change feed: an embedding as it stands after stamp ``change_seq``.

    Ids are UUIDs as text (``str(uuid)``): a first load reads hundreds of thousands of
    them, and text is what the store sends back anyway. ``vector`` is None when the
    embedding is of another model version than the index reading the feed asked for
    (it leaves that index, if it was there).
    """

    kind: str
    source_id: str
    customer_id: str
    model_version: str
    vector: bytes | memoryview | None
    change_seq: int


@dataclass(frozen=True)
class Matches:
    """Customers whose best vector reaches the floor, most similar first, with that similarity."""

    customer_ids: list[UUID]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.customer_ids)


class VectorIndex:
    """Every vector of one model version, as rows of a float32 matrix.

    Not thread-safe: its owner (``semantic.VectorSearch``) serialises updates and reads.
    """

    def __init__(
        self, model_version: str, dimensions: int, *, capacity: int = INITIAL_CAPACITY
    ) -> None:
        self.model_version = model_version
        self.dimensions = dimensions
        #: The newest change stamp applied.
        self.last_change = 0
        self._rows = np.zeros((capacity, dimensions), dtype=np.float32)
        self._owner = np.zeros(capacity, dtype=np.int32)
        self._alive = np.zeros(capacity, dtype=bool)
        self._size = 0  # rows ever used; freed ones are reused first
        self._free: list[int] = []
        self._slots: dict[str, dict[str, int]] = {PROFILE: {}, NOTE: {}}
        self._customers: list[UUID] = []
        self._customer_numbers: dict[str, int] = {}
        # The high 64 bits of each customer's id: a tie-break that is the same in every process.
        self._customer_keys = np.zeros(capacity, dtype=np.uint64)

    def __len__(self) -> int:
        """How many vectors the index holds."""
        return self._size - len(self._free)

    @property
    def nbytes(self) -> int:
        """Bytes of the matrix and its per-row and per-customer arrays (not the id maps)."""
        return int(
            self._rows.nbytes + self._owner.nbytes + self._alive.nbytes + self._customer_keys.nbytes
        )

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` vectors at once (a first load knows how many will come)."""
        if rows > self._rows.shape[0]:
            self._rows = _grown(self._rows, rows)
            self._owner = _grown(self._owner, rows)
            self._alive = _grown(self._alive, rows)

    def apply(self, changes: Iterable[VectorChange]) -> None:
        """Take changes in stamp order: add or replace a vector, drop one that left the version."""
        for change in changes:
            slots = self._slots[change.kind]
            slot = slots.get(change.source_id)
            vector = None if change.vector is None else vector_from_bytes(change.vector)
            if (
                change.model_version != self.model_version
                or vector is None
                or vector.shape[0] != self.dimensions
            ):
                if slot is not None:
                    del slots[change.source_id]
                    self._alive[slot] = False
                    self._free.append(slot)
            else:
                if slot is None:
                    slot = self._allocate()
                    slots[change.source_id] = slot
                self._rows[slot] = vector
                self._owner[slot] = self._customer_number(change.customer_id)
                self._alive[slot] = True
            self.last_change = max(self.last_change, change.change_seq)

    def match(self, query: Vector, floor: float, limit: int) -> Matches:
        """Customers whose best vector has a cosine of at least ``floor`` with ``query``.

        The ``limit`` most similar, most similar first (ties by customer id); ``query``
        must be a unit vector of this index's dimensions.
        """
        if query.shape != (self.dimensions,):
            raise ValueError(f"the query has {query.shape} dimensions, not {self.dimensions}")
        used = self._size
        screened = self._rows[:used] @ query
        rows = np.flatnonzero((screened >= floor - SCREENING_SLACK) & self._alive[:used])
        exact = (self._rows[rows].astype(np.float64) * query.astype(np.float64)).sum(axis=1)
        kept = exact >= floor
        rows, exact = rows[kept], exact[kept]
        if rows.size == 0:
            return Matches([], [])
        owners = self._owner[rows]
        # Each customer's best row: sort by customer, best first, keep each customer's first.
        order = np.lexsort((-exact, owners))
        owners, exact = owners[order], exact[order]
        first = np.ones(owners.size, dtype=bool)
        first[1:] = owners[1:] != owners[:-1]
        customers, scores = owners[first], np.round(exact[first], SCORE_DECIMALS)
        ranked = np.lexsort((self._customer_keys[customers], -scores))[:limit]
        return Matches(
            customer_ids=[self._customers[number] for number in customers[ranked].tolist()],
            scores=[float(score) for score in scores[ranked]],
        )

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        if self._size == self._rows.shape[0]:
            self.reserve(int(self._size * GROWTH) + 1)
        self._size += 1
        return self._size - 1

    def _customer_number(self, customer_id: str) -> int:
        number = self._customer_numbers.get(customer_id)
        if number is None:
            number = len(self._customers)
            customer = UUID(customer_id)
            self._customers.append(customer)
            self._customer_numbers[customer_id] = number
            if number == self._customer_keys.shape[0]:
                self._customer_keys = _grown(self._customer_keys, int(number * GROWTH) + 1)
            self._customer_keys[number] = customer.int >> 64
        return number


def _grown(array: npt.NDArray[Any], rows: int) -> npt.NDArray[Any]:
    """``array`` with ``rows`` rows, the new ones zero."""
    bigger = np.zeros((rows, *array.shape[1:]), dtype=array.dtype)
    bigger[: array.shape[0]] = array
    return bigger
