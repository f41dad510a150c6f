"""Apify runs and datasets as a lead source: the API client (client.py) and the
item mapping for popular lead actors (profiles.py). No database here: the
import service writes what these read."""
