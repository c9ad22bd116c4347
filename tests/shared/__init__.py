"""Tests of ``shared``: the framework-free core and its Flask glue (``shared.web``)."""
