"""nnctl: train and understand small fully connected neural networks, the derivation made executable."""
from .mlp import MLP

__version__ = "0.1.0"
__all__ = ["MLP", "__version__"]
