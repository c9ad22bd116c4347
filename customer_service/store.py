"""SQL for the customer database; nothing else in the service writes SQL.

:class:`CustomerStore` opens a transaction and hands out a
:class:`CustomerTransaction` whose methods each run one parameterised statement.
Column names come only from the fixed sets below, never from a request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import psycopg2.errors
import psycopg2.extras
from psycopg2 import sql

from customer_service.cursors import Position
from customer_service.schemas import CustomerQuery
from shared.database import Database
from shared.events.envelope import Event

Row = dict[str, Any]

CUSTOMER_COLUMNS = sql.SQL(
    "id, name, email, phone, company, country, city, segment, status, tags, attributes,"
    " created_at, updated_at, version, deleted_at"
)
NOTE_COLUMNS = sql.SQL("id, customer_id, author, body, created_at")
WRITABLE_COLUMNS = frozenset(
    {"name", "email", "phone", "company", "country", "city", "segment", "status", "tags"}
    | {"attributes"}
)
EMAIL_CONSTRAINT = "customers_live_email_key"
#: The relay LISTENs here; every transaction that writes an event NOTIFYs it on commit.
OUTBOX_CHANNEL = "customer_outbox"

#: sort name -> (column, direction, comparison that means "after" in that direction)
ORDERINGS: Mapping[str, tuple[str, str, str]] = {
    "created_at": ("created_at", "ASC", ">"),
    "-created_at": ("created_at", "DESC", "<"),
    "name": ("name", "ASC", ">"),
    "-name": ("name", "DESC", "<"),
}


Lock = Literal["update", "share"]
LOCK_CLAUSES: Mapping[Lock | None, sql.SQL] = {
    None: sql.SQL(""),
    "update": sql.SQL(" FOR UPDATE"),
    "share": sql.SQL(" FOR SHARE"),
}


class EmailTaken(Exception):
    """A live customer already has this email (the partial unique index said so)."""


@dataclass(frozen=True)
class StoredResponse:
    """The response remembered for an idempotency key."""

    fingerprint: str
    status: int | None
    body: Any


class CustomerStore:
    """The customer database, one transaction at a time."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @contextmanager
    def transaction(self) -> Iterator[CustomerTransaction]:
        """Statements in one transaction: committed at the end, rolled back on error."""
        with self._database.transaction() as cursor:
            yield CustomerTransaction(cursor)


class CustomerTransaction:
    """The statements the service layer may run, inside one open transaction."""

    def __init__(self, cursor: psycopg2.extras.RealDictCursor) -> None:
        self._cursor = cursor

    def _one(self, query: sql.Composable, params: Any) -> Row | None:
        self._cursor.execute(query, params)
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    def _all(self, query: sql.Composable, params: Any) -> list[Row]:
        self._cursor.execute(query, params)
        return [dict(row) for row in self._cursor.fetchall()]

    def _write_customer(self, query: sql.Composable, params: Any) -> Row:
        try:
            row = self._one(query, params)
        except psycopg2.errors.UniqueViolation as error:
            if error.diag.constraint_name == EMAIL_CONSTRAINT:
                raise EmailTaken from None
            raise
        if row is None:
            raise LookupError("customer vanished inside its own transaction")
        return row

    def insert_customer(self, values: Mapping[str, Any]) -> Row:
        """Insert a customer (version 1) and return its row."""
        columns = _writable(values)
        query = sql.SQL("INSERT INTO customers ({}) VALUES ({}) RETURNING {}").format(
            sql.SQL(", ").join(sql.Identifier(column) for column in columns),
            sql.SQL(", ").join(sql.Placeholder() for _ in columns),
            CUSTOMER_COLUMNS,
        )
        return self._write_customer(query, [_adapt(column, values[column]) for column in columns])

    def find_customer(
        self, customer_id: UUID, *, include_deleted: bool = False, lock: Lock | None = None
    ) -> Row | None:
        """The customer's row (live only unless asked), optionally locked until commit.

        ``"update"`` before changing the row; ``"share"`` to keep it from changing
        (or being deleted) while something that depends on it is written.
        """
        query = sql.SQL("SELECT {} FROM customers WHERE id = %s{}{}").format(
            CUSTOMER_COLUMNS,
            sql.SQL("") if include_deleted else sql.SQL(" AND deleted_at IS NULL"),
            LOCK_CLAUSES[lock],
        )
        return self._one(query, [customer_id])

    def update_customer(self, customer_id: UUID, changes: Mapping[str, Any]) -> Row:
        """Apply ``changes``, bump the version and ``updated_at``; return the new row."""
        columns = _writable(changes)
        assignments: list[sql.Composable] = [
            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in columns
        ]
        assignments.append(sql.SQL("version = version + 1, updated_at = now()"))
        query = sql.SQL("UPDATE customers SET {} WHERE id = %s RETURNING {}").format(
            sql.SQL(", ").join(assignments), CUSTOMER_COLUMNS
        )
        params = [_adapt(column, changes[column]) for column in columns]
        return self._write_customer(query, [*params, customer_id])

    def set_deleted(self, customer_id: UUID, deleted: bool) -> Row:
        """Soft-delete (or restore) a customer, bumping its version."""
        query = sql.SQL(
            "UPDATE customers SET deleted_at = CASE WHEN %s THEN now() END,"
            " version = version + 1, updated_at = now() WHERE id = %s RETURNING {}"
        ).format(CUSTOMER_COLUMNS)
        return self._write_customer(query, [deleted, customer_id])

    def list_customers(self, query: CustomerQuery, after: Position | None) -> list[Row]:
        """Up to ``query.limit + 1`` live customers matching ``query``, after ``after``."""
        column, direction, comparison = ORDERINGS[query.sort]
        conditions: list[sql.Composable] = [sql.SQL("deleted_at IS NULL")]
        params: list[Any] = []
        for name, value in (
            ("status", query.status),
            ("country", query.country),
            ("segment", query.segment),
        ):
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(value)
        if query.tag:
            conditions.append(sql.SQL("tags @> %s::text[]"))
            params.append(query.tag)
        if query.created_after is not None:
            conditions.append(sql.SQL("created_at >= %s"))
            params.append(query.created_after)
        if query.created_before is not None:
            conditions.append(sql.SQL("created_at < %s"))
            params.append(query.created_before)
        if after is not None:
            conditions.append(
                sql.SQL("({}, id) {} (%s, %s)").format(sql.Identifier(column), sql.SQL(comparison))
            )
            params.extend([after.value, after.id])
        statement = sql.SQL(
            "SELECT {} FROM customers WHERE {} ORDER BY {} {}, id {} LIMIT %s"
        ).format(
            CUSTOMER_COLUMNS,
            sql.SQL(" AND ").join(conditions),
            sql.Identifier(column),
            sql.SQL(direction),
            sql.SQL(direction),
        )
        return self._all(statement, [*params, query.limit + 1])

    def insert_note(self, customer_id: UUID, author: str, body: str) -> Row:
        """Add a note to a customer and return its row."""
        query = sql.SQL(
            "INSERT INTO notes (customer_id, author, body) VALUES (%s, %s, %s) RETURNING {}"
        ).format(NOTE_COLUMNS)
        row = self._one(query, [customer_id, author, body])
        if row is None:
            raise LookupError("INSERT ... RETURNING returned nothing")
        return row

    def list_notes(self, customer_id: UUID, limit: int, after: Position | None) -> list[Row]:
        """Up to ``limit + 1`` notes of a customer, newest first, after ``after``."""
        condition = sql.SQL(" AND (created_at, id) < (%s, %s)") if after else sql.SQL("")
        query = sql.SQL(
            "SELECT {} FROM notes WHERE customer_id = %s{}"
            " ORDER BY created_at DESC, id DESC LIMIT %s"
        ).format(NOTE_COLUMNS, condition)
        params: list[Any] = [customer_id]
        if after is not None:
            params.extend([after.value, after.id])
        return self._all(query, [*params, limit + 1])

    def append_event(self, event: Event) -> None:
        """Write ``event`` to the outbox; it is published only if this transaction commits."""
        self._cursor.execute(
            "INSERT INTO outbox (event_id, event_type, subject, envelope) VALUES (%s, %s, %s, %s);"
            " SELECT pg_notify(%s, '')",
            [
                event.id,
                event.type,
                event.subject,
                psycopg2.extras.Json(event.to_document()),
                OUTBOX_CHANNEL,
            ],
        )

    def claim_idempotency_key(
        self, subject: str, key: str, fingerprint: str, retention_seconds: int
    ) -> bool:
        """Take the key for this request; False if a live (unexpired) claim exists.

        A concurrent claim of the same key waits here until the first transaction
        ends: on commit this returns False, on rollback the key is ours.
        """
        query = sql.SQL(
            "INSERT INTO idempotency_keys (subject, key, fingerprint) VALUES (%s, %s, %s)"
            " ON CONFLICT (subject, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"
            " response_status = NULL, response_body = NULL, created_at = now()"
            " WHERE idempotency_keys.created_at < now() - make_interval(secs => %s)"
            " RETURNING subject"
        )
        return self._one(query, [subject, key, fingerprint, retention_seconds]) is not None

    def find_idempotent_response(self, subject: str, key: str) -> StoredResponse | None:
        """What was answered the first time this key was used, if anything."""
        query = sql.SQL(
            "SELECT fingerprint, response_status, response_body FROM idempotency_keys"
            " WHERE subject = %s AND key = %s"
        )
        row = self._one(query, [subject, key])
        if row is None:
            return None
        return StoredResponse(row["fingerprint"], row["response_status"], row["response_body"])

    def save_idempotent_response(self, subject: str, key: str, status: int, body: Any) -> None:
        """Remember the response for a key claimed in this transaction."""
        query = sql.SQL(
            "UPDATE idempotency_keys SET response_status = %s, response_body = %s"
            " WHERE subject = %s AND key = %s"
        )
        self._cursor.execute(query, [status, psycopg2.extras.Json(body), subject, key])


def _writable(values: Mapping[str, Any]) -> list[str]:
    unknown = set(values) - WRITABLE_COLUMNS
    if unknown:
        raise ValueError(f"not writable columns: {sorted(unknown)}")
    return sorted(values)


def _adapt(column: str, value: Any) -> Any:
    # psycopg2 sends lists as arrays already; a dict must be wrapped to become jsonb.
    return psycopg2.extras.Json(value) if column == "attributes" else value
