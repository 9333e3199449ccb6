"""Federation: the Server-Server API (see docs/development/federation.md)."""
