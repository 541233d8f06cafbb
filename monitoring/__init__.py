"""Monitoring: the Prometheus endpoint (/metrics) and logs a machine can read."""
