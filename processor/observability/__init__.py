"""Serving metrics for every kbridge process (the metrics themselves live with the process
that counts them)."""
