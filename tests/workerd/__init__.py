"""Offline harness and tests for running Python Durable Objects under the real workerd runtime."""
