"""nnctl: train and understand small fully connected neural networks, the derivation made executable."""
__all__ = ["MLP", "NNClassifier", "__version__"]


def __getattr__(name):
    # Each on first use: MLP needs NumPy (~0.1 s), which `nnctl --help` does not; NNClassifier pulls in
    # scikit-learn, which `import nnctl` and predict do not need; the version reads the package metadata.
    if name == "MLP":
        from .model.network import MLP

        return MLP
    if name == "NNClassifier":
        from .estimator import NNClassifier

        return NNClassifier
    if name == "__version__":
        from importlib import metadata

        try:
            return metadata.version("nnctl")
        except metadata.PackageNotFoundError:  # run from a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'nnctl' has no attribute {name!r}")
