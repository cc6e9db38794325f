"""Watching the service run: health and readiness, Prometheus metrics, heartbeats, status, logs.

Nothing here sends email or changes the ledger; the watch that tells admins is newsletter/watch.py.
"""
