"""Two-way sync of leads with one Airtable table (issue 14).

settings (what to talk to) → client (pyairtable, paced and retried) →
push / pull / conflicts (what crosses, through the one write path) →
service (runs) → cli, endpoints, tasks.
"""
