"""Outbound and two-way syncs with other systems (today: Airtable)."""
