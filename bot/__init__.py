"""Семейный навигатор: the application shell."""
