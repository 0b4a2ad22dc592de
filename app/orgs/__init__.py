"""Organizations, memberships and invitations (to come)."""
