"""nnctl: train and understand small fully connected neural networks, the derivation made executable."""
from .mlp import MLP

__version__ = "0.1.0"
__all__ = ["MLP", "NNClassifier", "__version__"]


def __getattr__(name):
    # NNClassifier pulls in scikit-learn; importing it on first use keeps `import nnctl` (and predict) fast.
    if name == "NNClassifier":
        from .estimator import NNClassifier

        return NNClassifier
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
