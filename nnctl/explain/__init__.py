"""nnctl explain: the derivation computed on real numbers (compute.py, independent of model/) and shown (render.py)."""
