"""What more than one Clientele service needs, written once, knowing no web framework.

The top level is plain Python: ``errors`` (problem types), ``auth`` (token
verification, the scope check), ``contract`` (operations and their scopes),
``services`` (the service declaration), ``settings``, ``logs``, ``database``,
``migrations``, ``discovery``, ``cursors`` (the keyset cursor codec),
``query_parameters`` (query-string integers and date-times), ``worker`` (the
runner of every worker process), the ``events`` sub-package (the customer event
envelope, its publisher and consumer), and ``gunicorn_conf`` and
``gunicorn_worker`` (what gunicorn reads). The Flask glue is the ``shared.web``
sub-package.
"""
