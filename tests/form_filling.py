"""Kept for the corpus generator: the filling helper now lives in ``tasks.bureau_sim``."""

from tasks.bureau_sim import fill_form

__all__ = ["fill_form"]
