"""The customer use cases: plain Python over :class:`CustomerStore`, no HTTP, no SQL.

Each use case is one transaction: it reads, checks, writes and returns, and any
exception rolls back everything it wrote. Failures are domain exceptions that
subclass ``shared.errors``, so the one shared handler renders them. How a
version looks on the wire (an ``ETag``) is ``api.py``'s business: it renders
:class:`VersionMismatch` itself, from the ``current_version`` the error carries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from customer_service import events
from customer_service.cursors import Position, decode_cursor, encode_cursor, sorts_by_time
from customer_service.schemas import (
    MAX_PAGE_SIZE,
    CustomerCreate,
    CustomerExportQuery,
    CustomerPage,
    CustomerQuery,
    CustomerRead,
    CustomerUpdate,
    NoteCreate,
    NotePage,
    NoteQuery,
    NoteRead,
)
from customer_service.store import CustomerStore, CustomerTransaction, EmailTaken, Lock, Row
from shared.errors import Conflict, NotFound, PreconditionFailed, ValidationFailed

#: Most bytes of customers one page carries; the next cursor continues from there.
PAGE_MAX_BYTES = 1_048_576
#: Notes are listed newest first only; their cursors are tied to this order.
NOTE_ORDER = "-created_at"


class CustomerNotFound(NotFound):
    """No live customer has this id."""

    slug = "customer-not-found"

    def __init__(self, customer_id: UUID) -> None:
        super().__init__(f"No customer with id {customer_id}")


class DuplicateEmail(Conflict):
    """Another live customer already uses this email."""

    slug = "duplicate-email"

    def __init__(self, email: str) -> None:
        super().__init__(
            f"A customer with email {email!r} already exists",
            errors=[{"field": "email", "message": "is already taken", "code": "duplicate"}],
        )


class CustomerNotDeleted(Conflict):
    """Restore was asked for a customer that is not deleted."""

    slug = "customer-not-deleted"

    def __init__(self, customer_id: UUID) -> None:
        super().__init__(f"Customer {customer_id} is not deleted")


class VersionMismatch(PreconditionFailed):
    """The client named a version the customer no longer has; ``current_version`` is its own."""

    slug = "version-mismatch"

    def __init__(self, current_version: int) -> None:
        super().__init__(f"The customer has changed; its current version is {current_version}")
        self.current_version = current_version


class IdempotencyKeyReused(ValidationFailed):
    """An ``Idempotency-Key`` came back with a different request body."""

    slug = "idempotency-key-reused"

    def __init__(self) -> None:
        super().__init__(
            [
                {
                    "field": "Idempotency-Key",
                    "message": "was already used with a different request body",
                    "code": "idempotency_key_reused",
                }
            ]
        )


@dataclass(frozen=True)
class ExpectedVersion:
    """What an ``If-Match`` header allows: any version (``*``) or those listed."""

    versions: Collection[int]
    any_version: bool = False

    def allows(self, version: int) -> bool:
        """Whether the customer at ``version`` may be changed."""
        return self.any_version or version in self.versions


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for a create, scoped to who sent it, with the body it came with."""

    subject: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Creation:
    """The created customer, and whether this answer repeats an earlier one."""

    customer: CustomerRead
    replayed: bool = False


def fingerprint_of(payload: Any) -> str:
    """SHA-256 of the canonical JSON of a request body (key order does not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class CustomerService:
    """Create, read, change, delete and restore customers; add and list notes."""

    def __init__(self, store: CustomerStore, *, idempotency_retention_seconds: int) -> None:
        self._store = store
        self._retention = idempotency_retention_seconds

    def create_customer(
        self, data: CustomerCreate, *, idempotency: IdempotencyKey | None
    ) -> Creation:
        """Create a customer; with a key, a retried create returns the first answer."""
        try:
            with self._store.transaction() as tx:
                if idempotency is not None and not tx.claim_idempotency_key(
                    idempotency.subject, idempotency.key, idempotency.fingerprint, self._retention
                ):
                    return _replay(tx, idempotency)
                row = tx.insert_customer(data.model_dump())
                tx.append_event(events.customer_event(events.CREATED, row))
                customer = _customer(row)
                if idempotency is None:
                    return Creation(customer)
                tx.save_idempotent_response(
                    idempotency.subject, idempotency.key, 201, customer.model_dump(mode="json")
                )
                return Creation(customer)
        except EmailTaken:
            raise DuplicateEmail(data.email) from None

    def get_customer(self, customer_id: UUID) -> CustomerRead:
        """The live customer with this id."""
        with self._store.transaction() as tx:
            return _customer(_live(tx, customer_id))

    def list_customers(self, query: CustomerQuery) -> CustomerPage:
        """One page of live customers in ``query.sort`` order, filtered by ``query``."""
        after = decode_cursor(query.cursor, query.sort) if query.cursor else None
        with self._store.transaction() as tx:
            rows = tx.list_customers(query, after)
        items = _within_page_budget([_customer(row) for row in rows[: query.limit]])
        next_cursor = None
        if len(rows) > len(items):
            last = items[-1]
            value = last.created_at if sorts_by_time(query.sort) else last.name
            next_cursor = encode_cursor(query.sort, Position(value, last.id))
        return CustomerPage(items=items, next_cursor=next_cursor)

    def export_customers(self, query: CustomerExportQuery) -> Iterator[list[CustomerRead]]:
        """Every live customer matching ``query``, in its sort order, a keyset page at a time.

        Each page is read in a transaction of its own when the caller asks for it, so
        an export of any size holds one page in memory and no connection between
        pages. Like walking the list with its cursor, it never skips or repeats a
        customer that exists throughout.
        """
        page_query = query.page_query(MAX_PAGE_SIZE)
        after: Position | None = None
        while True:
            with self._store.transaction() as tx:
                rows = tx.list_customers(page_query, after)
            page = [_customer(row) for row in rows[:MAX_PAGE_SIZE]]
            if page:
                yield page
            if len(rows) <= MAX_PAGE_SIZE:
                return
            last = page[-1]
            after = Position(last.created_at if sorts_by_time(query.sort) else last.name, last.id)

    def update_customer(
        self, customer_id: UUID, patch: CustomerUpdate, *, expected: ExpectedVersion
    ) -> CustomerRead:
        """Apply a merge patch; a patch that changes nothing keeps the version."""
        try:
            with self._store.transaction() as tx:
                current = _live(tx, customer_id, lock="update")
                _check_version(current, expected)
                changes = _merge(current, patch.changes())
                if not changes:
                    return _customer(current)
                row = tx.update_customer(customer_id, changes)
                tx.append_event(events.customer_event(events.UPDATED, row))
                return _customer(row)
        except EmailTaken:
            raise DuplicateEmail(str(patch.email)) from None

    def delete_customer(self, customer_id: UUID, *, expected: ExpectedVersion | None) -> None:
        """Soft-delete a live customer: hidden from reads and lists, kept for restore."""
        with self._store.transaction() as tx:
            current = _live(tx, customer_id, lock="update")
            _check_version(current, expected)
            row = tx.set_deleted(customer_id, True)
            tx.append_event(events.customer_event(events.DELETED, row))

    def restore_customer(
        self, customer_id: UUID, *, expected: ExpectedVersion | None
    ) -> CustomerRead:
        """Bring back a deleted customer, unless its email now belongs to a live one."""
        with self._store.transaction() as tx:
            current = tx.find_customer(customer_id, include_deleted=True, lock="update")
            if current is None:
                raise CustomerNotFound(customer_id)
            if current["deleted_at"] is None:
                raise CustomerNotDeleted(customer_id)
            _check_version(current, expected)
            try:
                row = tx.set_deleted(customer_id, False)
            except EmailTaken:
                raise DuplicateEmail(current["email"]) from None
            tx.append_event(events.customer_event(events.RESTORED, row))
            return _customer(row)

    def add_note(self, customer_id: UUID, data: NoteCreate, *, author: str) -> NoteRead:
        """Add a note, signed by ``author``, to a live customer."""
        with self._store.transaction() as tx:
            # Shared lock: notes may be added side by side, but a delete waits for them.
            customer = _live(tx, customer_id, lock="share")
            note = NoteRead.model_validate(tx.insert_note(customer_id, author, data.body))
            tx.append_event(events.note_event(customer, note))
            return note

    def list_notes(self, customer_id: UUID, query: NoteQuery) -> NotePage:
        """One page of a live customer's notes, newest first."""
        after = decode_cursor(query.cursor, NOTE_ORDER) if query.cursor else None
        with self._store.transaction() as tx:
            _live(tx, customer_id)
            rows = tx.list_notes(customer_id, query.limit, after)
        items = [NoteRead.model_validate(row) for row in rows[: query.limit]]
        next_cursor = None
        if len(rows) > query.limit:
            last = items[-1]
            next_cursor = encode_cursor(NOTE_ORDER, Position(last.created_at, last.id))
        return NotePage(items=items, next_cursor=next_cursor)


def _within_page_budget(items: list[CustomerRead]) -> list[CustomerRead]:
    """The leading items whose JSON fits in ``PAGE_MAX_BYTES`` (always at least one).

    ``limit`` bounds a page in items; this bounds it in bytes, so a page of
    customers with large attributes stays small for the gateway and the client.
    """
    kept: list[CustomerRead] = []
    total = 0
    for item in items:
        total += len(item.model_dump_json())
        if kept and total > PAGE_MAX_BYTES:
            break
        kept.append(item)
    return kept


def _customer(row: Row) -> CustomerRead:
    return CustomerRead.model_validate(row)


def _live(tx: CustomerTransaction, customer_id: UUID, *, lock: Lock | None = None) -> Row:
    row = tx.find_customer(customer_id, lock=lock)
    if row is None:
        raise CustomerNotFound(customer_id)
    return row


def _check_version(current: Row, expected: ExpectedVersion | None) -> None:
    if expected is not None and not expected.allows(current["version"]):
        raise VersionMismatch(current["version"])


def _replay(tx: CustomerTransaction, idempotency: IdempotencyKey) -> Creation:
    stored = tx.find_idempotent_response(idempotency.subject, idempotency.key)
    if stored is None or stored.status is None:
        # Only reachable if the row vanished between statements; the claim is worth retrying.
        raise Conflict("The request with this Idempotency-Key is still in progress; retry")
    if stored.fingerprint != idempotency.fingerprint:
        raise IdempotencyKeyReused()
    return Creation(CustomerRead.model_validate(stored.body), replayed=True)


def _merge(current: Row, sent: dict[str, Any]) -> dict[str, Any]:
    """The columns a merge patch really changes (RFC 7396; ``attributes`` merge deeply)."""
    changes: dict[str, Any] = {}
    for field, value in sent.items():
        new = merge_patch(current[field], value) if field == "attributes" else value
        if new != current[field]:
            changes[field] = new
    return changes


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, ``null`` removes a key."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
