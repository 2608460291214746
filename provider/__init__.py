"""A small OAI-PMH data provider: serves a record store over HTTP on 127.0.0.1.

It serves the bundled sample corpus for ``repec-harvest demo`` and scenario corpora for the
tests. It is not a production repository.
"""
