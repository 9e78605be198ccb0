"""Runbooks: the Markdown format, its parser, expectations and lint."""
