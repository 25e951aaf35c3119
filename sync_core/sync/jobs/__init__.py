"""Mapping jobs: a timer (or a webhook) finds what changed and enqueues one message per record."""
