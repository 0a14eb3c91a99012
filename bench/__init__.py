"""``make bench``: throughput and latency of the gateway against a floor measured in the same run (DESIGN.md)."""
