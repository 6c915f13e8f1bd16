"""The core of the product: every door (API, forms, admin, commands) calls these."""
