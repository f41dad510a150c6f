"""Users, roles, access/refresh tokens and API keys for the HTTP API and CLI."""
