"""Flask glue: what turns the framework-free core of ``shared`` into a running service.

``app`` (the skeleton: request ids, access log, ``/openapi.json``), ``errors``
(problem+json rendering), ``auth`` (tokens and contract scopes per request),
``validation`` (bodies and query strings), ``responses`` (JSON answers, the
next page's ``Link``), ``metrics`` and ``health``.
"""
