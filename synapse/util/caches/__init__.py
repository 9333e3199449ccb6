"""In-memory caches that sit in front of hot store reads."""
