"""A Matrix homeserver written in Python on Twisted."""

__version__ = "0.1.0"
