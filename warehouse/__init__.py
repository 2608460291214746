"""The lakehouse: a DuckLake warehouse (catalog, Parquet data files, snapshots) and everything
that writes or reads it: staging, the loader, merges, views, generations, locks, maintenance.

Knows nothing of OAI-PMH: it receives Arrow tables and Parquet paths.
"""
