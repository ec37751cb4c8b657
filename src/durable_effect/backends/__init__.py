"""Backends: where instance records and alarms live (memory, SQLite via the host, Cloudflare)."""
