"""Duplicates a person reviews: clusters, merge, unmerge, dismiss (API, CLI).

Finding them is ``dedupe`` (keys, rules, scores, the matcher, the scan);
this package acts on what it found, above the leads and companies it merges.
"""
