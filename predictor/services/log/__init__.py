"""The prediction log: writing rows (one INSERT per group-committed call), and later its
aggregates, export and retention."""
