"""Storage behind the `Store` protocol: in-memory (default) and SQLite."""
