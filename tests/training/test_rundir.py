"""The run directory's one reader of metrics.jsonl: what can be read is kept, nothing is made up."""
from __future__ import annotations

import json

from nnctl.training.rundir import RunDir


def test_metrics_lines_that_cannot_be_read_are_passed_over(tmp_path):
    run = RunDir(tmp_path)
    good = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2, 3, 4)]
    lines = [json.dumps(good[0]).encode(), b'{"epoch": 2, "train_lo', json.dumps(good[1]).encode(),
             b"\xff\xfe not text", b"[1, 2]", b'{"epoch": "3"}', b"[" * 5000 + b"]" * 5000,
             json.dumps(good[2]).encode(), json.dumps({"epoch": 2}).encode(),  # out of order: an edit
             json.dumps(good[3]).encode(), b'{"epoch": 5, "train_loss": 0.1']  # the last cut short by a kill
    run.metrics.write_bytes(b"\n".join(lines))
    assert run.read_metrics() == good
    assert run.read_metrics(upto=2) == good[:2]
    assert RunDir(tmp_path / "none").read_metrics(missing_ok=True) == []
