"""Persistence: models, repositories, engine and migrations."""
