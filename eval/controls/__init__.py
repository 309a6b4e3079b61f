"""Metric controls: model-free corrupted copies of a story whose effect on each metric is known.

`spec` names the controls and the direction each one must move its metrics; `footage` builds them
from any annotated footage (a scene swapped for another story's, two halves spliced, frames shuffled,
captions exchanged); `world` re-renders a scene of the synthetic story world with another look or
setting variant (exact identities); `summary` turns per-story changes into detection rates.
"""
