"""Automatic differentiation over Simp (docs/ad.md)."""
