"""Outbound federation connections: server discovery (well-known, SRV) and the agent."""
