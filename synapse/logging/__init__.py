"""Logging set-up and the per-request logging context."""
