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


def test_the_headline_of_make_bench_runs_as_a_quick_smoke_run():
    # The headline times `nnctl train` and scikit-learn as subprocesses; here only that it runs and reports.
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--cases", "headline"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    for line in ("headline: what a user gets", "BLAS pools a NumPy + SciPy process finds: openblas",
                 "[784,256,10] batch 128 (quick), 2 epochs", "[2,3,2] batch 32 (quick), 3 epochs",
                 "nnctl sweep of four [784,256,10] runs"):
        assert line in out.stdout, (line, out.stdout)


def test_the_vectorize_case_of_make_bench_runs_as_a_quick_smoke_run():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "bench.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--cases", "vectorize"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in ("nnctl sweep --vectorize", "nnctl sweep --jobs 2", "figures equal: yes",
                 "peak memory of the vectorized sweep"):
        assert line in out.stdout, (line, out.stdout)
