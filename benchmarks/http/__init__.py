"""Client-Server HTTP benchmark: a real daemon (ours or Synapse) on a loopback port, driven
over HTTP by a small Matrix client on Twisted. The entry point is ``benchmarks.http_bench``.
"""
