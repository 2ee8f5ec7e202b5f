"""The math: the derivation's network in NumPy. Knows no config, no files, no command line."""
from .network import MLP

__all__ = ["MLP"]
