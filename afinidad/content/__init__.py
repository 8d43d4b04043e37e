"""Generative content: briefs in, checked copy out."""
