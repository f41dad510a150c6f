"""The HTTP plumbing every router shares: the app factory (app), the
envelope and request helpers (support), idempotent retries, rate limits,
operations (/health, /ready, /metrics, the request log) and the API docs."""
