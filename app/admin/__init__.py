"""Admin console (to come)."""
