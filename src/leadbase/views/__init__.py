"""Saved views and per-user columns of the console's lists (issue 11)."""
