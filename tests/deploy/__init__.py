"""Tests of what deploys and observes the platform: the files under ``deploy/``."""
