"""Gradient check: analytic gradients of ``MLP.loss_and_grads`` against centred differences, in float64.

For each parameter tensor, up to ``max_entries`` entries (a seeded random subset when the tensor is
larger; every tensor is always covered) are perturbed by ±eps. Relative error is
``|a − n| / max(|a|, |n|, floor)``, taken as 0 where all three are 0.

Why the floor: ``J`` is known only to about ``u·max(1, J)`` (``u`` = float64 machine epsilon), so a centred
difference carries an absolute error of about ``u·max(1, J)/eps`` (≈ 1e-11 at eps = 1e-5) whatever the
gradient. An entry smaller than ``floor = 10·u·max(1, J)/(eps·tol)`` (≈ 2e-3 at the defaults) cannot be
resolved to ``tol`` relatively, so it is held to the absolute bound ``floor·tol`` instead. Without the floor a
correct backward pass fails whenever some entry is near zero, as in most networks larger than TestNet.
"""
from __future__ import annotations

import numpy as np

from .network import MLP

ROUNDOFF = 10.0 * np.finfo(np.float64).eps  # how precisely J is known, relative to max(1, J), with margin


def resolution_floor(J, eps, tol):
    """The gradient magnitude below which centred differences with step ``eps`` cannot reach ``tol``."""
    return ROUNDOFF * max(1.0, abs(float(J))) / (eps * tol)


def relative_error(a, n, floor=0.0):
    """``|a − n| / max(|a|, |n|, floor)``, 0 where all three are 0, and ∞ where ``a`` or ``n`` is not
    finite: a NaN gradient never passes."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        rel = np.where(denom > 0, np.abs(a - n) / np.where(denom > 0, denom, 1.0), 0.0)
    return np.where(np.isfinite(a) & np.isfinite(n), rel, np.inf)


def _pattern(net, X):
    """Which ReLU units are on, per hidden layer (None for smooth activations, which have no kinks)."""
    if net.activation != "relu":
        return None
    return [A > 0 for A in net.forward(X)[1:-1]]


def numeric_gradient(net, X, y, name, index, eps, kinks=None):
    """Centred differences ``(J(θ+ε) − J(θ−ε)) / 2ε`` at the given flat ``index`` entries of ``params[name]``.

    With ``kinks`` (a boolean array like ``index``), marks the entries whose ±ε step switches a ReLU unit
    on or off for some sample: there J has a kink and the centred difference is not its derivative.
    """
    flat = net.params[name].reshape(-1)
    out = np.empty(len(index))
    base = _pattern(net, X) if kinks is not None else None
    for i, k in enumerate(index):
        old = flat[k]
        flat[k] = old + eps
        plus = net.loss(X, y)
        crossed = base is not None and any((a != b).any() for a, b in zip(base, _pattern(net, X)))
        flat[k] = old - eps
        minus = net.loss(X, y)
        crossed = crossed or (base is not None and any((a != b).any() for a, b in zip(base, _pattern(net, X))))
        flat[k] = old
        out[i] = (plus - minus) / (2.0 * eps)
        if kinks is not None:
            kinks[i] = crossed
    return out


def check(net, X, y, eps=1e-5, tol=1e-7, max_entries=200, rng=None):
    """Compare gradients for every tensor of ``net`` (converted to float64) on ``X``, ``y``.

    Returns a report ``{"passed", "eps", "tol", "floor", "samples", "tensors": [{name, shape, checked,
    kinks, max_rel_error, max_abs_error, passed}]}``; ``checked`` counts the entries judged, ``kinks``
    those left out because their ±eps step crosses a ReLU kink.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    net64 = MLP(net.layers, net.activation, net.lam, dtype="float64",
                params={k: np.array(v, dtype=np.float64) for k, v in net.params.items()})
    X = np.asarray(X, dtype=np.float64)
    J, grads = net64.loss_and_grads(X, y)
    floor = resolution_floor(J, eps, tol)
    tensors = []
    for name, param in net64.params.items():
        size = param.size
        index = np.arange(size) if size <= max_entries else np.sort(rng.choice(size, max_entries, replace=False))
        analytic = grads[name].reshape(-1)[index]
        kinks = np.zeros(len(index), dtype=bool)
        numeric = numeric_gradient(net64, X, y, name, index, eps, kinks)
        # Entries whose ±eps step crosses a ReLU kink are reported but not judged: no derivative is there.
        smooth = ~kinks
        rel = relative_error(analytic[smooth], numeric[smooth], floor)
        abs_error = np.abs(analytic[smooth] - numeric[smooth])
        tensors.append({
            "name": name, "shape": list(param.shape), "checked": int(smooth.sum()), "kinks": int(kinks.sum()),
            "max_rel_error": float(rel.max(initial=0.0)), "max_abs_error": float(abs_error.max(initial=0.0)),
            "passed": bool(rel.max(initial=0.0) < tol),
        })
    return {"passed": all(t["passed"] for t in tensors), "eps": eps, "tol": tol, "floor": floor,
            "samples": int(len(y)), "lambda": net.lam, "activation": net.activation, "layers": net.layers,
            "tensors": tensors}


def format_report(report):
    """The report as a fixed-width table ending in PASS or FAIL."""
    lines = [f"gradcheck: layers {report['layers']}, {report['activation']}, λ={report['lambda']:g}, "
             f"{report['samples']} samples, eps={report['eps']:g}, tol={report['tol']:g}, floor={report['floor']:.1e}",
             f"{'tensor':<8}{'shape':>12}{'checked':>9}{'max rel err':>14}{'max abs err':>14}  result"]
    for t in report["tensors"]:
        shape = "×".join(map(str, t["shape"]))
        lines.append(f"{t['name']:<8}{shape:>12}{t['checked']:>9}{t['max_rel_error']:>14.3e}"
                     f"{t['max_abs_error']:>14.3e}  {'ok' if t['passed'] else 'FAIL'}")
    kinks = sum(t.get("kinks", 0) for t in report["tensors"])
    if kinks:
        lines.append(f"{kinks} entries left out: their ±eps step switches a ReLU unit on or off (a kink, "
                     "where J has no derivative); a smaller --eps leaves out fewer")
    lines.append("PASS" if report["passed"] else "FAIL")
    return "\n".join(lines)
