"""Metrics and trace records shared by every kbridge process."""
