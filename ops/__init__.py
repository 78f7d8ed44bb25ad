"""Operating Baton: Prometheus metrics, health and readiness, worker liveness, machine-readable logs."""
