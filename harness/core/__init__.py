"""The shared core every other package builds on: errors, atomic writes, registries, hashing, config
models, seeding, devices, video I/O, progress, path safety, weight lookup and MLflow tracking.

It imports nothing from the rest of msvg-bench (a test checks the import graph)."""
