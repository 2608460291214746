"""The read-only web front over the warehouse: item pages, search, author and series pages,
and the health dashboard."""
