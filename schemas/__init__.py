"""Arrow schemas of every table and the mapping from each metadata format to rows.

The bottom layer: imports nothing of ours; ``harvesting`` and ``warehouse`` build on it.
"""
