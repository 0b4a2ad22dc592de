"""The audit log: append-only, written with the change it records, hash-chained."""
