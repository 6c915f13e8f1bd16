"""The browser door: server-rendered pages. Each view parses a form, calls the core, renders."""
