"""nnctl: train and understand small fully connected neural networks, the derivation made executable."""
from importlib import metadata

try:
    __version__ = metadata.version("nnctl")
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
__all__ = ["MLP", "NNClassifier", "__version__"]


def __getattr__(name):
    # Imported on first use: MLP needs NumPy (~0.1 s), which `nnctl --help` does not; NNClassifier pulls
    # in scikit-learn, which `import nnctl` and predict do not need.
    if name == "MLP":
        from .model.network import MLP

        return MLP
    if name == "NNClassifier":
        from .estimator import NNClassifier

        return NNClassifier
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
