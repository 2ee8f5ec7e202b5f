"""docs/derivation.md: every number it quotes, recomputed from nnctl's own sample; every function it names, found.

The numbers come from the sample of ``nnctl explain configs/testnet.yaml --index 0`` (the config's network and
train[0]), through ``explain.compute.explain``. Each decimal number on the page must be a key of ``quoted`` and
equal its computation at the digits printed.
"""
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from nnctl.explain.compute import explain
from nnctl.explain.sample import select_sample
from nnctl.targets import network_and_data

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "derivation.md"
NUMBER = re.compile(r"(?<![\w.])[−-]?\d+\.\d+")
CODE_REF = re.compile(r"`(nnctl/[\w/]+\.py)`((?:(?:,| and)? `[A-Za-z_][\w.]*`)+)")


@pytest.fixture(scope="module")
def page():
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sample():
    """``(explanation, config, large, plain)``: ``large`` with a(0) ×1000 and λ = 0, ``plain`` with λ = 0."""
    net, data, config = network_and_data(str(ROOT / "configs" / "testnet.yaml"))
    x, y, _ = select_sample(data, config, "train", 0, None, None)
    ex = explain(net.params, x, y, net.activation, net.lam, config["train"]["alpha"])
    plain = explain(net.params, x, y, net.activation, 0.0, config["train"]["alpha"])
    large = explain(net.params, np.asarray(x) * 1000, y, net.activation, 0.0, config["train"]["alpha"])
    return ex, config, large, plain


def quoted(sample):
    """Every number the page prints -> its value, computed from the sample."""
    ex, config, large, plain = sample
    A = {k: v[:, 0] if v.ndim == 2 and v.shape[1] == 1 else v for k, v in ex.arrays.items()}
    dot = float(A["a1"] @ (1.0 - A["a1"]))                      # the post's g(z)ᵀ·(1 − g(z)), line 509
    literal_dW1 = dot * np.outer(A["da1"], A["a0"])              # lines 547–556 read as matrix products
    literal_db1 = dot * A["da1"]                                 # lines 565–573
    numbers = {"alpha": config["train"]["alpha"]}
    for name in ("a0", "z1", "a1", "p", "delta2", "da1", "g_prime1", "delta1", "b1_new"):
        numbers.update({f"{name}[{i}]": v for i, v in enumerate(A[name])})
    numbers.update({
        **{f"W1[{i},0]": v for i, v in enumerate(A["W1"][:, 0])},
        "W1[0,0]*a0[0]": A["W1"][0, 0] * A["a0"][0],
        "delta2[0]*a1[0]": A["delta2"][0] * A["a1"][0],
        "dot": dot,
        "literal dW1[0,0]": literal_dW1[0, 0],
        "dW1_data[0,0]": A["dW1_data"][0, 0],
        **{f"literal db1[{i}]": v for i, v in enumerate(literal_db1)},
        **{f"x1000 z1[{i}]": v for i, v in enumerate(large.arrays["z1"][:, 0])},
        "|dW1|": np.linalg.norm(plain.arrays["dW1"]),
        "|dW2|": np.linalg.norm(plain.arrays["dW2"]),
        "x1000 |dW2|": np.linalg.norm(large.arrays["dW2"]),
    })
    return numbers


# The page's text of each number -> the key of its value in ``quoted``.
PRINTED = {
    "0.5": "alpha",
    "-0.4339": "a0[0]", "0.9152": "a0[1]",
    "-1.156": "z1[0]", "0.2949": "z1[1]", "0.2152": "z1[2]",
    "0.2393": "a1[0]", "0.5732": "a1[1]", "0.5536": "a1[2]",
    "0.7940": "p[0]", "0.2060": "p[1]",
    "-0.2060": "delta2[0]",
    "0.7411": "W1[0,0]", "0.2577": "W1[1,0]", "-0.5561": "W1[2,0]",
    "-0.3216": "W1[0,0]*a0[0]",
    "-0.04931": "delta2[0]*a1[0]",
    "-0.1652": "da1[0]", "-0.4251": "da1[1]", "0.009531": "da1[2]",
    "0.1821": "g_prime1[0]", "0.2446": "g_prime1[1]", "0.2471": "g_prime1[2]",
    "0.6738": "dot",
    "0.0483": "literal dW1[0,0]",
    "0.01305": "dW1_data[0,0]",
    "-0.1113": "literal db1[0]", "-0.2865": "literal db1[1]", "0.006422": "literal db1[2]",
    "-0.03007": "delta1[0]", "-0.1040": "delta1[1]", "0.002355": "delta1[2]",
    "0.01504": "b1_new[0]", "0.05200": "b1_new[1]", "-0.001178": "b1_new[2]",
    "-1156.3": "x1000 z1[0]", "294.9": "x1000 z1[1]", "215.2": "x1000 z1[2]",
    "0.1097": "|dW1|", "0.2424": "|dW2|", "0.2348": "x1000 |dW2|",
}


def significant_digits(text):
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    return len(digits)


def test_every_number_on_the_page_is_recomputed(page):
    on_page = {m.replace("−", "-") for m in NUMBER.findall(page)}
    assert on_page - set(PRINTED) == set(), "numbers on the page that the test does not recompute"
    assert set(PRINTED) - on_page == set(), "numbers the test recomputes that the page no longer shows"


@pytest.mark.parametrize("text", sorted(PRINTED))
def test_number_equals_its_computation(sample, text):
    value = quoted(sample)[PRINTED[text]]
    assert f"{value:.{significant_digits(text)}g}" == f"{float(text):.{significant_digits(text)}g}", (
        f"{text} on the page, {value!r} computed ({PRINTED[text]})")


def test_the_sample_facts_the_page_states(sample):
    ex, config, large, plain = sample
    assert ex.y == 0 and not ex.arrays["b1"].any() and not ex.arrays["b2"].any()   # y = 0, b(1) = b(2) = 0
    assert ex.arrays["W1"].shape == (3, 2)                                         # "W(1) is 3×2"
    with pytest.raises(ValueError):                                                # 3×2 · 3-vector (line 155)
        ex.arrays["W1"] @ np.vstack([[1.0], ex.arrays["a0"]])
    # ×1000: g'(z(1)) is 0 in float64, and ∂J/∂W(1)'s data term with it
    assert not large.arrays["g_prime1"].any() and not large.arrays["dW1"].any()
    # the right ∂J/∂W(1) is what nnctl computes (and the literal reading is not)
    assert np.allclose(ex.arrays["dW1_data"], ex.arrays["delta1"] @ ex.arrays["a0"].T)
    assert not np.isclose(ex.arrays["dW1_data"][0, 0], quoted(sample)["literal dW1[0,0]"])
    # the summary's δ(l+1)·a(l)ᵀ for l = 1 has ∂J/∂W(2)'s shape, not ∂J/∂W(1)'s
    assert (ex.arrays["delta2"] @ ex.arrays["a1"].T).shape == ex.arrays["W2"].shape != ex.arrays["W1"].shape


def test_every_function_the_page_names_exists(page):
    refs = [(path, name) for path, names in CODE_REF.findall(page) for name in re.findall(r"`([\w.]+)`", names)]
    assert len(refs) >= 25, refs
    for path, name in refs:
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        obj = module
        for part in name.split("."):
            assert hasattr(obj, part), f"{path} has no {name}"
            obj = getattr(obj, part)


def test_the_page_is_linked(page):
    assert "(docs/derivation.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(derivation.md)" in (ROOT / "docs" / "explain.md").read_text(encoding="utf-8")
