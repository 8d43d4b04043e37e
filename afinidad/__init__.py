"""Afinidad: self-hosted AI personalization and generative marketing."""

__version__ = "0.1.0"
