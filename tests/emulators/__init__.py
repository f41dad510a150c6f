"""Local emulators of the services leadbase talks to, for the tests (no network)."""
