"""Event persistence: the state of new events, and the per-room queue that writes them.

``context.py`` computes an ``EventContext`` (the state before and after an event, as
state groups) and ``queue.py`` persists events room by room, in order and in batches.
See docs/development/persistence.md.
"""
