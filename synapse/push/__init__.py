"""Push rules, their evaluation against new events, and unread notification counts."""
