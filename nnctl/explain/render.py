"""Renderers for an ``Explanation``: plain text, Markdown with LaTeX (GitHub's ``$$`` blocks), and JSON.

``context`` describes where the sample came from, for the headings: ``target``, ``split``, ``index``
(or ``None`` for a sample given with ``--x``), ``x_raw`` (raw features after ``input_scale``, or ``None``),
``input_scale``, ``scaler``, ``class_names``, ``optimizer``. Matrices with more than ``SUMMARY_LIMIT``
entries are summarised (shape, min, max, Frobenius norm) unless ``full``; JSON always holds every entry.
"""
from __future__ import annotations

import numpy as np

from ..model.gradcheck import resolution_floor
from .compute import SATURATED

SUMMARY_LIMIT = 36
UNDERFLOW = ("p(y) underflows to 0 in float64, so −1/p(y) and the softmax's long way (Jacobian times ∂J/∂p) cannot "
             "be computed; δ below comes from ln p = a − ln Σ e^a, which stays finite")
FD_TOL = 1e-7   # the same threshold as `nnctl gradcheck`'s default

# g'(z) as the derivation would write it, per activation: text, and LaTeX in the symbols (a, z).
G_PRIME_TEXT = {
    "sigmoid": ("a ⊙ (1 − a)", lambda a, z: rf"{a} \odot (1 - {a})"),
    "tanh": ("1 − a ⊙ a", lambda a, z: rf"1 - {a} \odot {a}"),
    "relu": ("1[z > 0]", lambda a, z: rf"\mathbb{{1}}[{z} > 0]"),
}
G_TEXT = {
    "sigmoid": ("1 / (1 + e^(−z))", r"\frac{1}{1 + e^{-z}}"),
    "tanh": ("tanh(z)", r"\tanh(z)"),
    "relu": ("max(0, z)", r"\max(0, z)"),
}


def _num(v):
    return "0" if v == 0 else format(float(v), ".6g")


def _shape(A):
    return "×".join(map(str, A.shape))


def _summary(A):
    return float(A.min()), float(A.max()), float(np.linalg.norm(A))


def _sample_line(ex, ctx):
    names = ctx["class_names"]
    label = f'y = {ex.y} (class "{names[ex.y]}")'
    if ctx.get("index") is not None:
        where = f"{ctx['split']}[{ctx['index']}] of {ctx['target']}"
    else:
        where = "given with --x"
    raw = ""
    if ctx.get("x_raw") is not None:
        scale = ctx.get("input_scale", 1.0)
        times = f" (after × input_scale {_num(scale)})" if scale != 1.0 else ""
        into = ("not scaled (data.scaler none): a(0) = raw x" if ctx["scaler"] == "none"
                else f"scaled by the run's {ctx['scaler']} scaler into a(0)")
        raw = f"; raw x = [{', '.join(_num(v) for v in ctx['x_raw'])}]{times}, {into}"
    return f"sample {where}{raw}; {label}"


def fd_verdict(ex):
    """How the largest finite-difference discrepancy compares with ``FD_TOL``, in words."""
    rel, ab = max(ex.fd_error.values()), max(ex.fd_abs_error.values())
    if rel < FD_TOL:
        return f"below {FD_TOL:g}"
    # Entries whose absolute difference stays below this were as exact as a finite difference can tell;
    # the same bound as `nnctl gradcheck` uses.
    resolvable = resolution_floor(ex.loss["J"], ex.eps, FD_TOL) * FD_TOL
    if ab < resolvable:
        return (f"above {FD_TOL:g} only relative to tiny entries: every absolute difference is below {resolvable:.0e}, "
                "the rounding of a centred difference at this eps")
    return f"NOT below {FD_TOL:g}: this gradient disagrees with the finite difference"


def predicted_line(ex, ctx):
    """The predicted class beside p, and whether it is the sample's."""
    names, k = ctx["class_names"], ex.predicted
    verdict = "right" if k == ex.y else f'wrong: the sample is "{names[ex.y]}"'
    return (f'predicted class {k} ("{names[k]}", p = {_num(ex.arrays["p"][k, 0])}; {verdict}); '
            f"p by class: {', '.join(f'{name} {_num(v)}' for name, v in zip(names, ex.arrays['p'][:, 0]))}")


def saturation_line(ex, l):
    """What saturated units of hidden layer ``l`` do to the gradient, in numbers; ``None`` when none is."""
    flat = ex.saturated(l)
    if not flat:
        return None
    data = float(np.abs(ex.arrays[f"dW{l}_data"][flat]).max())
    decay = float(np.abs(ex.lam * ex.arrays[f"W{l}"][flat]).max())
    units = ", ".join(str(i + 1) for i in flat)
    return (f"saturated: {len(flat)} of {ex.layers[l]} units of layer {l} (unit {units}) have g'(z) < {SATURATED:g}, "
            f"so their δ({l}) is under a thousandth of W({l + 1})ᵀ·δ({l + 1}); in their rows of ∂J/∂W({l}), "
            f"δ({l})·a({l - 1})ᵀ reaches {_num(data)} and λW({l}) {_num(decay)}")


def _step_note(ctx):
    opt = ctx.get("optimizer", "sgd")
    if opt == "sgd":
        return ""
    return f" (the derivation's plain gradient-descent step; this run trains with {opt})"


def _update(out, step, alpha, ctx, L):
    """The text's update section: each ``W(l)`` and ``b(l)`` after one step, through the renderer's ``step``."""
    out += ["", f"Update with α = {_num(alpha)}{_step_note(ctx)}"]
    for l in range(1, L + 1):
        step(f"W({l}) ← W({l}) − α·∂J/∂W({l})", f"W{l}_new")
        step(f"b({l}) ← b({l}) − α·∂J/∂b({l})", f"b{l}_new")


def _text_matrix(A, full, indent="    "):
    if A.size > SUMMARY_LIMIT and not full:
        lo, hi, norm = _summary(A)
        return [f"{indent}min {_num(lo)}, max {_num(hi)}, ‖·‖ {_num(norm)}  ({A.size} entries; --full prints them)"]
    cells = [[_num(v) for v in row] for row in A]
    width = max(len(c) for row in cells for c in row)
    return [f"{indent}[ {'  '.join(c.rjust(width) for c in row)} ]" for row in cells]


def _fd_line(ex, name):
    return (f"    finite difference: max relative difference {ex.fd_error[name]:.2e}, "
            f"max absolute difference {ex.fd_abs_error[name]:.2e}")


def format_text(ex, ctx, full=False):
    """The explanation as plain text: one equation per step, its shape, then its values."""
    A, L = ex.arrays, ex.L
    out = [f"nnctl explain: layers {ex.layers}, {ex.activation} hidden layers, λ = {_num(ex.lam)}, α = {_num(ex.alpha)}",
           _sample_line(ex, ctx), ""]

    def step(title, name):
        out.append(f"{title}   ({_shape(A[name])})")
        out.extend(_text_matrix(A[name], full))

    out.append(f"Forward pass   (g(z) = {G_TEXT[ex.activation][0]} on hidden layers; the output layer is linear)")
    step("a(0) = x", "a0")
    for l in range(1, L + 1):
        step(f"W({l})", f"W{l}")
        step(f"b({l})", f"b{l}")
        step(f"z({l}) = W({l})·a({l - 1}) + b({l})", f"z{l}")
        step(f"a({l}) = g(z({l}))" if l < L else f"a({l}) = z({l})", f"a{l}")
    step(f"p = softmax(a({L}))", "p")
    out.append(predicted_line(ex, ctx))
    loss = ex.loss
    out += ["", "Loss",
            f"J = −ln p(y = \"{ctx['class_names'][ex.y]}\") + (λ/2) Σ ‖W(l)‖²"
            f" = {_num(loss['data'])} + {_num(loss['penalty'])} = {_num(loss['J'])}", ""]

    out.append(f"Backward pass   (g'(z) = {G_PRIME_TEXT[ex.activation][0]})")
    step("onehot(y)", "onehot")
    if "dJ_da" in A:
        step(f"∂p/∂a({L}) = diag(p) − p·pᵀ   (softmax's Jacobian: ∂pᵢ/∂aⱼ = pᵢ(1(i=j) − pⱼ))", "softmax_jacobian")
        step("∂J/∂p = −onehot(y) ⊘ p   (only −1/p(y) at the true class)", "dJ_dp")
        step(f"∂J/∂a({L}) = (∂p/∂a({L}))ᵀ·∂J/∂p", "dJ_da")
    else:
        out.append(UNDERFLOW)
    step(f"δ({L}) = ∂J/∂z({L}) = ∂J/∂a({L}) = p − onehot(y)   (the output layer is linear: a({L}) = z({L}))",
         f"delta{L}")
    for l in range(L, 0, -1):
        step(f"∂J/∂W({l}) = δ({l})·a({l - 1})ᵀ + λW({l})", f"dW{l}")
        out.append(_fd_line(ex, f"dW{l}"))
        step(f"∂J/∂b({l}) = δ({l})", f"db{l}")
        out.append(_fd_line(ex, f"db{l}"))
        if l > 1:
            step(f"∂J/∂a({l - 1}) = W({l})ᵀ·δ({l})", f"da{l - 1}")
            step(f"g'(z({l - 1})) = {G_PRIME_TEXT[ex.activation][0]}", f"g_prime{l - 1}")
            if saturation_line(ex, l - 1):
                out.append(saturation_line(ex, l - 1))
            step(f"δ({l - 1}) = ∂J/∂z({l - 1}) = (W({l})ᵀ·δ({l})) ⊙ g'(z({l - 1}))", f"delta{l - 1}")

    _update(out, step, ex.alpha, ctx, L)

    out += ["", f"Check: every gradient against centred finite differences (eps = {ex.eps:g}): largest relative "
                f"difference {max(ex.fd_error.values()):.2e} ({fd_verdict(ex)})"]
    return "\n".join(out)


def _tex_num(v):
    s = _num(v)
    if "e" in s:
        mantissa, exp = s.split("e")
        return rf"{mantissa} \cdot 10^{{{int(exp)}}}"
    return s


def _tex(A, full):
    if A.size > SUMMARY_LIMIT and not full:
        lo, hi, norm = _summary(A)
        return (rf"\left[ \text{{{_shape(A)}: min }}{_tex_num(lo)},\ \text{{max }}{_tex_num(hi)},"
                rf"\ \lVert\cdot\rVert = {_tex_num(norm)} \right]")
    # One row per line: GitHub protects a row break "\\" inside $$ only at the end of a line.
    rows = " \\\\\n".join(" & ".join(_tex_num(v) for v in row) for row in A)
    return f"\\begin{{bmatrix}}\n{rows}\n\\end{{bmatrix}}"


def _tex_text(s):
    for ch, rep in (("\\", r"\backslash "), ("{", r"\{"), ("}", r"\}"), ("_", r"\_"), ("%", r"\%"),
                    ("&", r"\&"), ("#", r"\#"), ("$", r"\$"), ("^", r"\^{}"), ("~", r"\~{}")):
        s = s.replace(ch, rep)
    return rf"\text{{{s}}}"


def _block(*lines):
    return ["$$", *lines, "$$", ""]


def _in(symbol, A):
    rows, cols = A.shape
    return rf" \qquad {symbol} \in \mathbb{{R}}^{{{rows} \times {cols}}}"


def format_markdown(ex, ctx, full=False):
    """A Markdown document: the equations in the derivation's notation, then each with the numbers plugged in."""
    A, L, f = ex.arrays, ex.L, full
    g_text, g_tex = G_TEXT[ex.activation][1], G_PRIME_TEXT[ex.activation][1]
    label = _tex_text(ctx["class_names"][ex.y])
    out = [f"# nnctl explain: one sample through {ex.layers}", "",
           f"Network `{ctx['target']}`: layers {ex.layers} (n(0) … n(L), L = {L}), {ex.activation} hidden layers, "
           f"softmax output, cross-entropy loss with λ = {_num(ex.lam)}, learning rate α = {_num(ex.alpha)}.", "",
           _sample_line(ex, ctx).replace("sample ", "Sample: ", 1) + ".", "",
           "Vectors are columns, as in the derivation; one sample, so m = 1 and there is no 1/m. "
           "Numbers are rounded to 6 significant digits (`--format json` gives them all).", "",
           "## The equations", ""]
    out += _block(r"z^{(l)} = W^{(l)} \cdot a^{(l-1)} + b^{(l)}, \qquad a^{(l)} = g(z^{(l)}) \ (l < L), "
                  r"\qquad a^{(L)} = z^{(L)}, \qquad g(z) = " + g_text)
    out += _block(r"p = \frac{1}{\sum_j e^{a^{(L)}_j}} e^{a^{(L)}}, \qquad "
                  r"J = -\sum_{j} 1(y=j) \ln p(y=j) + \frac{\lambda}{2} \sum_{l=1}^{L} \lVert W^{(l)} \rVert^2")
    out += _block(r"\delta^{(L)} = \frac{\partial J}{\partial z^{(L)}} = p - \mathrm{onehot}(y)")
    out += _block(r"\frac{\partial J}{\partial W^{(l)}} = \delta^{(l)} \cdot (a^{(l-1)})^{T} + \lambda W^{(l)}, "
                  r"\qquad \frac{\partial J}{\partial b^{(l)}} = \delta^{(l)}")
    out += _block(r"\delta^{(l-1)} = \left( (W^{(l)})^{T} \cdot \delta^{(l)} \right) \odot g'(z^{(l-1)}), "
                  r"\qquad g'(z) = " + g_tex("a", "z"))
    out += _block(r"W^{(l)} \leftarrow W^{(l)} - \alpha \frac{\partial J}{\partial W^{(l)}}, \qquad "
                  r"b^{(l)} \leftarrow b^{(l)} - \alpha \frac{\partial J}{\partial b^{(l)}}")

    out += ["## Forward pass", ""]
    out += _block(rf"a^{{(0)}} = x = {_tex(A['a0'], f)}" + _in("a^{(0)}", A["a0"]))
    for l in range(1, L + 1):
        out += _block(rf"z^{{({l})}} = W^{{({l})}} \cdot a^{{({l - 1})}} + b^{{({l})}} = {_tex(A[f'W{l}'], f)} \cdot "
                      rf"{_tex(A[f'a{l - 1}'], f)} + {_tex(A[f'b{l}'], f)} = {_tex(A[f'z{l}'], f)}"
                      + _in(f"z^{{({l})}}", A[f"z{l}"]))
        rhs = rf"g(z^{{({l})}})" if l < L else rf"z^{{({l})}}"
        out += _block(rf"a^{{({l})}} = {rhs} = {_tex(A[f'a{l}'], f)}")
    out += _block(rf"p = \mathrm{{softmax}}(a^{{({L})}}) = {_tex(A['p'], f)}")
    out += [predicted_line(ex, ctx)[0].upper() + predicted_line(ex, ctx)[1:] + ".", ""]
    loss = ex.loss
    out += ["## Loss", ""]
    out += _block(rf"J = -\ln p(y = {label}) + \frac{{\lambda}}{{2}} \sum_l \lVert W^{{(l)}} \rVert^2 = "
                  rf"{_tex_num(loss['data'])} + {_tex_num(loss['penalty'])} = {_tex_num(loss['J'])}")

    out += ["## Backward pass", ""]
    if "dJ_da" not in A:
        out += [UNDERFLOW, ""]
    else:
        out += _block(rf"\frac{{\partial p}}{{\partial a^{{({L})}}}} = \mathrm{{diag}}(p) - p \cdot p^{{T}} = "
                    rf"{_tex(A['softmax_jacobian'], f)}, \qquad \frac{{\partial J}}{{\partial p}} = "
                    rf"-\mathrm{{onehot}}(y) \oslash p = {_tex(A['dJ_dp'], f)}")
        out += _block(rf"\frac{{\partial J}}{{\partial a^{{({L})}}}} = \left( \frac{{\partial p}}{{\partial a^{{({L})}}}} "
                      rf"\right)^{{T}} \cdot \frac{{\partial J}}{{\partial p}} = {_tex(A['dJ_da'], f)}")
    out += _block(rf"\delta^{{({L})}} = \frac{{\partial J}}{{\partial z^{{({L})}}}} = \frac{{\partial J}}{{\partial a^{{({L})}}}} "
                  rf"= p - \mathrm{{onehot}}(y) = {_tex(A['p'], f)} - {_tex(A['onehot'], f)} = "
                  rf"{_tex(A[f'delta{L}'], f)}" + _in(rf"\delta^{{({L})}}", A[f"delta{L}"]))
    for l in range(L, 0, -1):
        out += _block(rf"\frac{{\partial J}}{{\partial W^{{({l})}}}} = \delta^{{({l})}} \cdot (a^{{({l - 1})}})^{{T}} "
                      rf"+ \lambda W^{{({l})}} = {_tex(A[f'dW{l}_data'], f)} + {_tex_num(ex.lam)} \cdot "
                      rf"{_tex(A[f'W{l}'], f)} = {_tex(A[f'dW{l}'], f)}" + _in(rf"\frac{{\partial J}}{{\partial W^{{({l})}}}}", A[f"dW{l}"]))
        out += _block(rf"\frac{{\partial J}}{{\partial b^{{({l})}}}} = \delta^{{({l})}} = {_tex(A[f'db{l}'], f)}")
        if l > 1:
            k = l - 1
            out += _block(rf"g'(z^{{({k})}}) = {g_tex(f'a^{{({k})}}', f'z^{{({k})}}')} "
                          rf"= {_tex(A[f'g_prime{k}'], f)}")
            if saturation_line(ex, k):
                out += [saturation_line(ex, k)[0].upper() + saturation_line(ex, k)[1:] + ".", ""]
            out += _block(rf"\delta^{{({k})}} = \frac{{\partial J}}{{\partial z^{{({k})}}}} = \left( (W^{{({l})}})^{{T}} \cdot \delta^{{({l})}} \right) \odot g'(z^{{({k})}}) "
                          rf"= {_tex(A[f'da{k}'], f)} \odot {_tex(A[f'g_prime{k}'], f)} = {_tex(A[f'delta{k}'], f)}"
                          + _in(rf"\delta^{{({k})}}", A[f"delta{k}"]))

    out += ["## One step of gradient descent", "",
            f"With α = {_num(ex.alpha)}{_step_note(ctx)}:", ""]
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            out += _block(rf"{kind}^{{({l})}} \leftarrow {kind}^{{({l})}} - \alpha \frac{{\partial J}}{{\partial {kind}^{{({l})}}}} = "
                          rf"{_tex(A[f'{kind}{l}'], f)} - {_tex_num(ex.alpha)} \cdot {_tex(A[f'd{kind}{l}'], f)} = "
                          rf"{_tex(A[f'{kind}{l}_new'], f)}")

    out += ["## Check against finite differences", "",
            f"Each gradient above against the centred difference (J(θ+ε) − J(θ−ε)) / 2ε, ε = {ex.eps:g}, "
            "entry by entry:", "",
            "| gradient | shape | largest relative difference | largest absolute difference |", "|---|---|---|---|"]
    for l in range(L, 0, -1):
        for kind in ("W", "b"):
            name = f"d{kind}{l}"
            out.append(f"| ∂J/∂{kind}({l}) | {_shape(A[name])} | {ex.fd_error[name]:.2e} | {ex.fd_abs_error[name]:.2e} |")
    out += ["", f"Largest relative difference {max(ex.fd_error.values()):.2e}: {fd_verdict(ex)}.", ""]
    return "\n".join(out)


def to_json(ex, ctx):
    """Every intermediate array by name as nested lists (columns stay ``(n, 1)``), plus loss and check."""
    return {
        "target": ctx["target"],
        "network": {"layers": ex.layers, "activation": ex.activation, "lambda": ex.lam, "alpha": ex.alpha},
        "sample": {"split": ctx.get("split"), "index": ctx.get("index"),
                   "x_raw": None if ctx.get("x_raw") is None else [float(v) for v in ctx["x_raw"]],
                   "y": ex.y, "label": ctx["class_names"][ex.y], "class_names": list(ctx["class_names"]),
                   "predicted": ex.predicted, "predicted_label": ctx["class_names"][ex.predicted]},
        "saturated": {f"layer{l}": ex.saturated(l) for l in range(1, ex.L)},
        "loss": dict(ex.loss),
        "arrays": {name: A.tolist() for name, A in ex.arrays.items()},
        "finite_difference": {"eps": ex.eps, "max_rel_error": dict(ex.fd_error),
                              "max_abs_error": dict(ex.fd_abs_error), "verdict": fd_verdict(ex)},
    }


def _batch_where(bx, ctx):
    first = ctx["index"]
    return f"{ctx['split']}[{first}..{first + bx.m - 1}] of {ctx['target']}"


def format_batch_text(bx, ctx, full=False):
    """One minibatch step as plain text: each sample's gradient, their mean, λW, the step."""
    A, L, names = bx.arrays, bx.L, ctx["class_names"]
    out = [f"nnctl explain: layers {bx.layers}, {bx.activation} hidden layers, λ = {_num(bx.lam)}, α = {_num(bx.alpha)}",
           f"batch of m = {bx.m} samples {_batch_where(bx, ctx)}; classes "
           + ", ".join(f'"{names[y]}"' for y in bx.ys), "",
           "Each sample's gradient is the one-sample derivation (nnctl explain --index i) without the λW term;",
           "the step takes their mean and adds λW once:",
           "W(l) ← W(l) − α·[(1/m) Σᵢ δ(l)ᵢ·a(l−1)ᵢᵀ + λW(l)],   b(l) ← b(l) − α·(1/m) Σᵢ δ(l)ᵢ", "",
           "Loss",
           f"J = (1/m) Σᵢ −ln p(yᵢ) + (λ/2) Σ ‖W(l)‖² = {_num(bx.loss['data'])} + {_num(bx.loss['penalty'])} "
           f"= {_num(bx.loss['J'])}"]

    def step(title, name):
        out.append(f"{title}   ({_shape(A[name])})")
        out.extend(_text_matrix(A[name], full))

    for l in range(L, 0, -1):
        out += ["", f"Layer {l}"]
        for i in range(bx.m):
            step(f"δ({l})·a({l - 1})ᵀ of sample {ctx['index'] + i}", f"dW{l}_sample{i}")
        step(f"(1/m) Σᵢ δ({l})ᵢ·a({l - 1})ᵢᵀ", f"dW{l}_mean")
        step(f"λW({l})", f"lamW{l}")
        step(f"∂J/∂W({l}) = (1/m) Σᵢ δ({l})ᵢ·a({l - 1})ᵢᵀ + λW({l})", f"dW{l}")
        step(f"∂J/∂b({l}) = (1/m) Σᵢ δ({l})ᵢ", f"db{l}")
    _update(out, step, bx.alpha, ctx, L)
    out += ["", f"Check: the network's own minibatch gradient on these {bx.m} rows (MLP.loss_and_grads, what a training "
                f"step uses) differs by at most {bx.network_error:.2e} (relative); its J is {_num(bx.loss['network_J'])}"]
    return "\n".join(out)


def format_batch_markdown(bx, ctx, full=False):
    """One minibatch step as Markdown with LaTeX, in the order of ``format_batch_text``."""
    A, L, f = bx.arrays, bx.L, full
    out = [f"# nnctl explain: one minibatch step of {bx.layers}", "",
           f"Batch of m = {bx.m} samples {_batch_where(bx, ctx)}, λ = {_num(bx.lam)}, α = {_num(bx.alpha)}. "
           "Each sample's gradient is the one-sample derivation without the λW term; the step takes their mean "
           "and adds λW once.", ""]
    out += _block(r"W^{(l)} \leftarrow W^{(l)} - \alpha \left[ \frac{1}{m} \sum_{i=1}^{m} \delta^{(l)}_i "
                  r"\cdot (a^{(l-1)}_i)^{T} + \lambda W^{(l)} \right], \qquad b^{(l)} \leftarrow b^{(l)} - "
                  r"\alpha \frac{1}{m} \sum_{i=1}^{m} \delta^{(l)}_i")
    out += _block(rf"J = \frac{{1}}{{m}} \sum_i -\ln p(y_i) + \frac{{\lambda}}{{2}} \sum_l \lVert W^{{(l)}} \rVert^2 = "
                  rf"{_tex_num(bx.loss['data'])} + {_tex_num(bx.loss['penalty'])} = {_tex_num(bx.loss['J'])}")
    for l in range(L, 0, -1):
        out += [f"## Layer {l}", ""]
        terms = " + ".join(_tex(A[f"dW{l}_sample{i}"], f) for i in range(bx.m))
        out += _block(rf"\frac{{1}}{{m}} \sum_i \delta^{{({l})}}_i \cdot (a^{{({l - 1})}}_i)^{{T}} = \frac{{1}}{{{bx.m}}} "
                      rf"\left( {terms} \right) = {_tex(A[f'dW{l}_mean'], f)}")
        out += _block(rf"\frac{{\partial J}}{{\partial W^{{({l})}}}} = {_tex(A[f'dW{l}_mean'], f)} + "
                      rf"{_tex_num(bx.lam)} \cdot {_tex(A[f'W{l}'], f)} = {_tex(A[f'dW{l}'], f)}, \qquad "
                      rf"\frac{{\partial J}}{{\partial b^{{({l})}}}} = {_tex(A[f'db{l}'], f)}")
    out += ["## The step", "", f"With α = {_num(bx.alpha)}{_step_note(ctx)}:", ""]
    for l in range(1, L + 1):
        for kind in ("W", "b"):
            out += _block(rf"{kind}^{{({l})}} \leftarrow {_tex(A[f'{kind}{l}'], f)} - {_tex_num(bx.alpha)} \cdot "
                          rf"{_tex(A[f'd{kind}{l}'], f)} = {_tex(A[f'{kind}{l}_new'], f)}")
    out += [f"The network's own minibatch gradient on these rows (`MLP.loss_and_grads`, what a training step uses) "
            f"differs from these by at most {bx.network_error:.2e} (relative).", ""]
    return "\n".join(out)


def batch_to_json(bx, ctx):
    return {
        "target": ctx["target"],
        "network": {"layers": bx.layers, "activation": bx.activation, "lambda": bx.lam, "alpha": bx.alpha},
        "batch": {"split": ctx["split"], "first": ctx["index"], "m": bx.m, "y": bx.ys,
                  "labels": [ctx["class_names"][y] for y in bx.ys]},
        "loss": dict(bx.loss),
        "arrays": {name: A.tolist() for name, A in bx.arrays.items()},
        "network_max_rel_error": bx.network_error,
    }
