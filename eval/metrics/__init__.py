"""The metric registry and the metric modules."""
