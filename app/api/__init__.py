"""JSON API with personal access tokens (to come)."""
