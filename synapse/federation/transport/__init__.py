"""The federation transport: HTTP endpoints served (``server``) and requests made."""
