"""make bench runs (a smoke run; speed itself is measured by make bench, never by a test)."""


def test_make_bench_runs_as_a_quick_smoke_run():
    # Not a measurement (no figure is checked): `make bench` must not rot between the times someone runs it.
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--cases", "b,c"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    for line in ("scikit-learn MLPClassifier sgd", "nnctl × in each of the 1 rounds", "roofline: run_epoch",
                 "float32 / float64 speed:"):
        assert line in out.stdout, (line, out.stdout)
