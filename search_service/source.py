"""The customer service's API as the source of truth, read page by page for a reindex.

``GET /customers?limit=200&sort=created_at&cursor=...`` with the caller's own
bearer token, following ``next_cursor`` until it is null. Oldest first, so a
customer created while the listing runs comes at the end instead of before the
cursor. The instance is found through discovery (``customer_service``) for each
page. Plain ``http.client``: one GET per page needs no pool, and the service's
image carries no HTTP client library.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from shared.discovery import Discovery
from shared.service_calls import NoHttpUrl, call_service, problem_detail

#: The customer service's name in discovery.
CUSTOMER_SERVICE = "customer_service"
#: The most the customer service lists at once.
PAGE_SIZE = 200
TIMEOUT_SECONDS = 10.0
#: A page whose request could not be made, or met a 502/503/504, is asked again this often.
RETRIES = 2
RETRY_STATUSES = frozenset({502, 503, 504})


class SourceUnavailable(Exception):
    """The customer service could not be read; the message says how it answered."""


class CustomerSource:
    """Every live customer, in pages, as the customer service lists them."""

    def __init__(
        self,
        discovery: Discovery,
        *,
        service: str = CUSTOMER_SERVICE,
        timeout: float = TIMEOUT_SECONDS,
        retry_delay: float = 0.5,
    ) -> None:
        self._discovery = discovery
        self._service = service
        self._timeout = timeout
        self._retry_delay = retry_delay

    def pages(self, token: str) -> Iterator[list[dict[str, Any]]]:
        """Each page of customers, until the listing ends."""
        cursor: str | None = None
        while True:
            params = {"limit": str(PAGE_SIZE), "sort": "created_at"}
            if cursor:
                params["cursor"] = cursor
            page = self._get(f"/customers?{urlencode(params)}", token)
            items = page.get("items")
            if not isinstance(items, list):
                raise SourceUnavailable("the customer service sent a page without items")
            yield items
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _get(self, path: str, token: str) -> dict[str, Any]:
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                status, body = self._request(path, token)
            except OSError as error:
                if last:
                    raise SourceUnavailable(f"cannot reach the customer service: {error}") from None
            else:
                if status == 200:
                    return _json_object(body)
                if last or status not in RETRY_STATUSES:
                    raise SourceUnavailable(
                        f"the customer service answered {status}: {problem_detail(body)}"
                    )
            time.sleep(self._retry_delay * 2**attempt)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _request(self, path: str, token: str) -> tuple[int, bytes]:
        try:
            return call_service(
                self._discovery,
                self._service,
                "GET",
                path,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=self._timeout,
            )
        except NoHttpUrl as error:
            raise SourceUnavailable(str(error)) from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        raise SourceUnavailable("the customer service sent a page that is not JSON") from None
    if not isinstance(document, dict):
        raise SourceUnavailable("the customer service sent a page that is not an object")
    return document
