"""Delivery: email backends, rate limits and the ledger that records what was sent to whom."""
