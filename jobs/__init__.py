"""Timer-triggered functions (agent health checks)."""
