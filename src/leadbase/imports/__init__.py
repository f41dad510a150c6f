"""Leads in bulk: files (readers, column mapping), the JSON-file migration and Apify."""
