"""What more than one Clientele service needs, written once, knowing no web framework.

The top level is plain Python: ``errors`` (problem types), ``auth`` (token
verification, the scope check), ``contract`` (operations and their scopes),
``services`` (the service declaration), ``settings``, ``logs``, ``database``,
``migrations``, ``discovery``, and ``gunicorn_conf`` (the settings file gunicorn
reads). The Flask glue is the ``shared.web`` sub-package.
"""
