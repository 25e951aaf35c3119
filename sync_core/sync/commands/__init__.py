"""Operator commands over couplings: couple, uncouple, create-in, sync-now, match-couple, restore, retry."""
