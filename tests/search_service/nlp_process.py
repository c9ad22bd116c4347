"""The real NLP service as a process, for tests of semantic search (this package's, the contract's).

It runs as operators run it (gunicorn, the packaged model, a database of its own,
no prediction cache) and trusts the given test issuers' tokens through a JWKS
served here, as the gateway's JWKS does in a running platform. The search app
under test finds it through its discovery (``nlp_service`` = the process's URL).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests.search_service.http_servers import JwksServer
from tests.support import broker
from tests.support.processes import ServiceProcess
from tests.support.tokens import TestIssuer


@contextmanager
def running_nlp_service(
    make_database: Callable[[str], str],
    start_service: Callable[..., ServiceProcess],
    *issuers: TestIssuer,
) -> Iterator[ServiceProcess]:
    """The NLP service, ready (its model loaded), for the block; stopped after.

    ``make_database`` and ``start_service`` are the session fixtures of the same names.
    """
    jwks = JwksServer(*issuers)
    try:
        with broker.own_queue("nlp-jobs") as jobs_queue:
            service = start_service(
                "nlp_service",
                {
                    "NLP_DATABASE_URL": make_database("nlp_service"),
                    "JWT_JWKS_URL": jwks.jwks_url,
                    "NLP_JOBS_QUEUE": jobs_queue,
                    # Every query is embedded by the model itself; nothing lands in Redis.
                    "NLP_CACHE_TTL_SECONDS": "0",
                    "LOG_LEVEL": "WARNING",
                },
                workers=1,
            )
            try:
                service.wait_for("/readyz", timeout=120)
                yield service
            finally:
                service.stop()
    finally:
        jwks.close()
