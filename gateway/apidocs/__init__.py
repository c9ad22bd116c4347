"""The public API's documentation: its whole contract (``/api/v1/openapi.json``), Swagger UI.

``contract.py`` merges the gateway's and every routed service's contract into
the document clients see; ``api.py`` serves it and Swagger UI's page.
"""

from gateway.apidocs.api import DOCS_CSP, register_api_docs, with_api_docs_pages

__all__ = ["DOCS_CSP", "register_api_docs", "with_api_docs_pages"]
