"""Use cases: plain data in, plain data out; they own the transaction and never import aiogram."""
