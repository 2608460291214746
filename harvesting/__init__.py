"""OAI-PMH harvesting: the only package that imports sickle.

It speaks OAI-PMH and knows nothing of Parquet or DuckDB: pages go to a ``PageSink`` that the
layer above provides; progress is checkpointed after every page.
"""
