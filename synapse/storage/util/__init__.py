"""Storage helpers shared by the stores (stream id generators, ...)."""
