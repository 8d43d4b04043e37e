"""Decisions that learn: experiments, bandits, adaptive content blocks and the evaluation of policies."""
