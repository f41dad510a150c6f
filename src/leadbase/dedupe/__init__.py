"""Normalisation, duplicate keys and merging of leads and companies."""
