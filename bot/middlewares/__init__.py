"""Outer middlewares: a DB session and the viewer (who is asking, in what language, where)."""
