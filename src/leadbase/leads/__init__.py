"""Leads: schemas, repository (queries), service (the one write path)."""
