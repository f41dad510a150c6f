"""Enrichment: providers run as a waterfall, their results applied through the write path.

``pipeline.run_waterfall`` is pure (network only, no database); ``service``
applies its outcome to a lead inside the caller's unit of work; ``tasks``
is the background job that joins the two.
"""
