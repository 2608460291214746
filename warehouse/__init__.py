"""The normalized Parquet lake and the DuckDB database loaded from it.

Knows nothing of OAI-PMH: it receives Arrow tables and Parquet paths.
"""
