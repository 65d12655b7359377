"""The campaign ledger: every post counted once, in event-time order (see ledger.py)."""
