"""Runbooks: the Markdown format (DESIGN §2), its parser, expectations and lint."""
