"""The web console: page shells, their scripts and styles, served by the gateway at ``/``.

No business logic and no data here: every page is a public HTML shell whose
scripts call the same ``/api/v1/...`` endpoints any front end uses, with the
signed-in user's token (``static/api.js``). See ``pages.py``.
"""

from gateway.console.pages import (
    CONSOLE_CSP,
    PAGES,
    VENDOR_FILES,
    console,
    register_console,
    with_console_pages,
)

__all__ = [
    "CONSOLE_CSP",
    "PAGES",
    "VENDOR_FILES",
    "console",
    "register_console",
    "with_console_pages",
]
