"""Alerts (issue 15): channels per team, rules per workflow or task, and an outbox read from the event log."""
