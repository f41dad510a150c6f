// Quick-add and live enrichment status on /leads (being built).
