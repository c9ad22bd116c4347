"""The customer service as a reconcile reads it: its live customers, over HTTP.

The instance is found through discovery (``customer_service``) and called with
the caller's own bearer token, so a reconcile reads no more than its caller may
(``customers:read``). The list is walked page by page
(``GET /customers?limit=200&sort=created_at&cursor=...``) until ``next_cursor`` is
null; a customer held here but missing from the list is looked up alone
(``GET /customers/{id}``: 404 means it is deleted). Every call is bounded by what
is left of the reconcile's deadline.

Written on ``http.client``: the service's dependency set has no HTTP client
(urllib3 comes with the gateway's), and a few GETs need none.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, NoReturn
from urllib.parse import urlencode
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from analytics_service.rollups import Change, CustomerState
from shared.discovery import Discovery
from shared.errors import BadGateway, Forbidden, GatewayTimeout, ServiceUnavailable
from shared.service_calls import NoHttpUrl, call_service

#: The customer service's name in discovery.
SOURCE_SERVICE = "customer_service"
PAGE_SIZE = 200
#: A page is at most about 1 MiB (the customer service's own cap); anything far bigger is wrong.
MAX_ANSWER_BYTES = 4 * 1_048_576
#: Longest a single call may take, even with more of the deadline left.
CALL_TIMEOUT_SECONDS = 5.0


class SourceRefused(Forbidden):
    """The customer service refused the caller's token: reconcile needs ``customers:read``."""

    slug = "source-refused"


class SourceUnavailable(ServiceUnavailable):
    """The customer service could not be reached, or answered with a server error."""

    slug = "source-unavailable"


class SourceBroken(BadGateway):
    """The customer service answered something that is not what its contract says."""

    slug = "source-bad-answer"


class SourceTimedOut(GatewayTimeout):
    """Reading the customer service took longer than a reconcile may."""

    slug = "reconcile-timed-out"


class SourceCustomer(BaseModel):
    """The fields of a customer (``GET /customers``) that the rollups count."""

    model_config = ConfigDict(extra="ignore")

    id: UUID
    version: int = Field(ge=1)
    status: str
    country: str | None
    segment: str | None
    tags: list[str]
    created_at: datetime
    updated_at: datetime

    def change(self) -> Change:
        """This customer as a change to apply, made when it was last updated."""
        return Change(
            state=CustomerState.of(
                id=self.id,
                version=self.version,
                status=self.status,
                country=self.country,
                segment=self.segment,
                tags=self.tags,
                deleted=False,
                created_at=self.created_at,
            ),
            occurred_at=self.updated_at,
        )


class SourcePage(BaseModel):
    """One page of ``GET /customers``."""

    model_config = ConfigDict(extra="ignore")

    items: list[SourceCustomer]
    next_cursor: str | None


class HttpCustomerDirectory:
    """The customer service's customers, read with one caller's token before a deadline."""

    def __init__(
        self,
        discovery: Discovery,
        token: str,
        *,
        timeout_seconds: float,
        request_id: str = "-",
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._discovery = discovery
        self._page_size = page_size
        self._token = token
        self._timeout = timeout_seconds
        self._deadline = time.monotonic() + timeout_seconds
        self._request_id = request_id

    def live_customers(self) -> Iterator[Change]:
        """Every live customer, page after page, as changes."""
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = {"limit": self._page_size, "sort": "created_at"}
            status, body = self._get(
                "/customers?" + urlencode({**query, "cursor": cursor} if cursor else query)
            )
            if status != 200:
                self._refuse(status)
            page = self._parse(SourcePage, body)
            for customer in page.items:
                yield customer.change()
            cursor = page.next_cursor
            if cursor is None:
                return
            if cursor in seen:
                raise SourceBroken("The customer service handed out the same cursor twice")
            seen.add(cursor)

    def find(self, customer_id: UUID) -> Change | None:
        """The live customer with this id, or None if the customer service has none."""
        status, body = self._get(f"/customers/{customer_id}")
        if status == 404:
            return None
        if status != 200:
            self._refuse(status)
        customer: SourceCustomer = self._parse(SourceCustomer, body)
        return customer.change()

    def _parse(self, model: type[SourceCustomer] | type[SourcePage], body: bytes) -> Any:
        try:
            return model.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            raise SourceBroken(
                "The customer service answered with something not a customer list"
            ) from None

    def _refuse(self, status: int) -> NoReturn:
        if status in (401, 403):
            raise SourceRefused(
                "The customer service refused your token (reconcile reads the customers"
                f" as you, which needs customers:read): {status}"
            )
        if status >= 500 or status == 429:
            raise SourceUnavailable(f"The customer service answered {status}")
        raise SourceBroken(f"The customer service answered {status} where 200 was expected")

    def _get(self, path: str) -> tuple[int, bytes]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise SourceTimedOut(
                f"Reconcile did not finish reading the customers within {self._timeout:g} s;"
                " nothing was changed"
            )
        try:
            status, body = call_service(
                self._discovery,
                SOURCE_SERVICE,
                "GET",
                path,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Accept": "application/json",
                    "X-Request-ID": self._request_id,
                },
                timeout=min(remaining, CALL_TIMEOUT_SECONDS),
                max_bytes=MAX_ANSWER_BYTES,
            )
        except TimeoutError:
            raise SourceTimedOut(
                "The customer service did not answer in time; nothing was changed"
            ) from None
        except http.client.HTTPException:
            raise SourceBroken("The customer service answered something that is not HTTP") from None
        except (OSError, NoHttpUrl):
            raise SourceUnavailable("The customer service cannot be reached") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise SourceBroken("The customer service answered with more than a page")
        return status, body
