"""The record engine: one record from its queue message to its write and outcome (see record.py)."""
