"""Monthly statistics from the hub's own records (docs/reports.md)."""
