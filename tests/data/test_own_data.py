"""A user's own CSV end to end: an id column first, a text label in the middle, category columns, missing
cells, sizes from the data (model.hidden), split files, eval and predict with reordered columns and an unseen
category, and exact resume; each new key's bad values get one-line errors."""
from __future__ import annotations

import csv
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from nnctl.data import columns as columns_mod

ROOT = Path(__file__).resolve().parents[2]
CULTIVARS = ["barbera", "dolcetto", "nebbiolo"]
COLOURS = ["red", "rose", "white"]


def _make_data():
    """data/make_data.py, whose made-up wine cellar (``cellar_rows``) is this file's fixture too."""
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "data" / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cellar_rows = _make_data().cellar_rows


def write_table(path, rows, fields=("id", "alcohol", "cultivar", "acidity", "colour", "region")):
    """The rows as CSV into ``path`` (or a text stream)."""
    def write(f):
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    if isinstance(path, io.StringIO):
        write(path)
    else:
        with open(path, "w", newline="", encoding="utf-8") as f:
            write(f)
    return path


@pytest.fixture
def cellar(tmp_path):
    """A config for the cellar files (train, val and test in files of their own) and its folder."""
    write_table(tmp_path / "cellar.csv", cellar_rows(300, 1))
    write_table(tmp_path / "cellar-val.csv", cellar_rows(60, 2))
    write_table(tmp_path / "cellar-test.csv", cellar_rows(60, 3))
    config = {
        "model": {"hidden": [8]},
        "data": {"source": str(tmp_path / "cellar.csv"), "val_source": str(tmp_path / "cellar-val.csv"),
                 "test_source": str(tmp_path / "cellar-test.csv"), "label": "cultivar", "drop": ["id"],
                 "impute": "median"},
        "train": {"epochs": 8, "batch_size": 16, "alpha": 0.3},
        "output": {"dir": str(tmp_path / "run")},
    }
    path = tmp_path / "cellar.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def meta_of(path):
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(str(npz["meta"]))


def test_train_on_the_cellar_infers_the_sizes_and_stores_the_fitted_columns(run_cli, cellar, tmp_path):
    result = run_cli("train", cellar, "-q", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["test_acc"] > 0.8  # chance is 1/3
    run = tmp_path / "run"
    stored = yaml.safe_load((run / "config.yaml").read_text())
    # alcohol, acidity, 3 colours, 2 regions: 7 inputs; the id is dropped; 3 cultivars
    assert stored["model"]["layers"] == [7, 8, 3] and stored["model"]["hidden"] is None
    meta = meta_of(run / "checkpoints" / "last.npz")
    assert meta["class_names"] == CULTIVARS
    assert meta["feature_names"] == ["alcohol", "acidity", "colour=red", "colour=rose", "colour=white",
                                     "region=alba", "region=asti"]
    cols = {c["name"]: c for c in meta["columns"]}
    assert list(cols) == ["alcohol", "acidity", "colour", "region"]
    # the fills are the train file's own (val and test come from their files): median, and most frequent
    train = list(csv.DictReader(open(tmp_path / "cellar.csv", encoding="utf-8")))
    acidity = np.array([float(r["acidity"]) for r in train if r["acidity"]])
    assert cols["acidity"]["fill"] == float(np.median(acidity))
    colours = [r["colour"] for r in train if r["colour"] != "NA"]
    assert cols["colour"]["fill"] == max(COLOURS, key=colours.count)
    assert cols["alcohol"]["kind"] == "number" and cols["region"]["categories"] == ["alba", "asti"]


def test_predict_reads_columns_by_name_and_counts_unseen_categories(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q").exit_code == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.npz"
    rows = cellar_rows(40, 9)
    rows[0]["colour"], rows[5]["colour"] = "orange", "blue"  # never seen in training
    as_trained = io.StringIO()
    write_table(tmp_path / "new.csv", rows)
    first = run_cli("predict", ckpt, tmp_path / "new.csv")
    assert first.exit_code == 0, first.stderr
    assert "2 row(s) held a category unseen in training" in first.stderr
    answers = first.stdout.splitlines()
    assert len(answers) == 40 and set(answers) <= set(CULTIVARS)
    # the same rows piped in with the columns in another order, without the label: the same answers
    write_table(as_trained, rows, fields=("region", "colour", "acidity", "alcohol", "id"))
    piped = run_cli("predict", ckpt, "-", input=as_trained.getvalue())
    assert piped.exit_code == 0 and piped.stdout == first.stdout
    # an unseen category is all zeros in its one-hot block, as scikit-learn's handle_unknown="ignore"
    proba = run_cli("predict", ckpt, tmp_path / "new.csv", "--proba")
    assert proba.exit_code == 0 and len(proba.stdout.splitlines()) == 41


def test_a_missing_cell_at_predict_time_gets_the_trained_fill(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q").exit_code == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.npz"
    meta = meta_of(ckpt)
    fill = {c["name"]: c["fill"] for c in meta["columns"]}
    gap = run_cli("predict", ckpt, "--proba", input="alcohol,acidity,colour,region\n12.5,,,asti\n")
    filled = run_cli("predict", ckpt, "--proba",
                     input=f"alcohol,acidity,colour,region\n12.5,{fill['acidity']!r},{fill['colour']},asti\n")
    assert gap.exit_code == filled.exit_code == 0 and gap.stdout == filled.stdout


def test_without_impute_a_missing_cell_is_an_error_at_train_and_predict(run_cli, cellar, tmp_path):
    config = yaml.safe_load(cellar.read_text())
    config["data"]["impute"] = "none"
    cellar.write_text(yaml.safe_dump(config))
    result = run_cli("train", cellar, "-q")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path / 'cellar.csv'}: line 5, column 'acidity': missing value; set "
                             "data.impute to mean, median or most_frequent to fill missing cells\n")
    write_table(tmp_path / "cellar.csv", cellar_rows(300, 1, missing=False))
    write_table(tmp_path / "cellar-val.csv", cellar_rows(60, 2, missing=False))
    write_table(tmp_path / "cellar-test.csv", cellar_rows(60, 3, missing=False))
    assert run_cli("train", cellar, "-q").exit_code == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.npz"
    result = run_cli("predict", ckpt, input="alcohol,acidity,colour,region\n12.5,,red,asti\n")
    assert result.exit_code == 2
    assert result.stderr == ("Error: <stdin>: line 2, column 'acidity': missing value; the network was trained "
                             "without data.impute\n")


def test_eval_scores_the_test_file_and_resume_is_exact(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q", "--set", "train.epochs=4").exit_code == 0
    assert run_cli("train", cellar, "-q", "--resume").exit_code == 0
    straight = tmp_path / "straight"
    assert run_cli("train", cellar, "-q", "--out", straight).exit_code == 0
    with np.load(tmp_path / "run/checkpoints/last.npz") as a, np.load(straight / "checkpoints/last.npz") as b:
        for key in ("W1", "b1", "W2", "b2", "scaler_center", "scaler_scale"):
            np.testing.assert_array_equal(a[key], b[key])
    result = run_cli("eval", tmp_path / "run/checkpoints/last.npz", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["samples"] == 60 and report["accuracy"] > 0.8


def test_label_by_index_and_a_text_label_first(run_cli, tiny_config, tmp_path):
    rows = cellar_rows(120, 4, missing=False)
    write_table(tmp_path / "first.csv", rows, fields=("cultivar", "alcohol", "acidity"))
    cfg = tiny_config(model={"hidden": [4]}, data={"source": str(tmp_path / "first.csv"), "label": 0})
    result = run_cli("train", cfg, "-q", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["test_acc"] > 0.5


@pytest.mark.parametrize("data, message", [
    ({"label": "grape"}, "data.label: no column named 'grape' in the header (id, alcohol, cultivar, acidity, "
                         "colour, region)"),
    ({"label": 9}, "data.label: column index 9 is outside 0..5"),
    ({"label": "cultivar", "drop": ["cultivar"]}, "data.drop: column 'cultivar' is named twice (data.label and "
                                                  "data.drop)"),
    ({"label": "cultivar", "drop": ["id", "acidity", 0]}, "data.drop: column 'id' is named twice (data.drop and "
                                                          "data.drop)"),
    ({"label": "cultivar", "drop": ["id"], "categorical": ["id"]},
     "data.categorical: column 'id' is named twice (data.drop and data.categorical)"),
    ({"label": "cultivar", "drop": ["id"], "categorical": "none", "impute": "mean"},
     "line 2, column 'colour': not a number: 'white'; list the column in data.categorical to read it as categories"),
    ({"label": "cultivar", "impute": "mean", "drop": ["id", "alcohol", "acidity", "colour", "region"]},
     "no feature column is left after data.label and data.drop"),
])
def test_bad_column_choices_are_one_line_errors(run_cli, tiny_config, tmp_path, data, message):
    path = write_table(tmp_path / "c.csv", cellar_rows(50, 5))
    cfg = tiny_config(model={"hidden": [3]}, data={"source": str(path), **data})
    result = run_cli("train", cfg, "-q")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: {message}\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("data, message", [
    ({"label": [1]}, "data.label: must be a column name or a 0-based column index, got a list"),
    ({"drop": "id"}, "data.drop: must be a list of column names or 0-based indexes, got 'id'"),
    ({"drop": ["id", "id"]}, "data.drop[1]: 'id' is named twice"),
    ({"drop": [-1]}, "data.drop[0]: must be a column name or a 0-based column index, got -1"),
    ({"impute": "zero"}, "data.impute: must be one of none, mean, median, most_frequent, got 'zero'"),
    ({"categorical": "all"}, "data.categorical: must be auto, none or a list of column names or indexes, got 'all'"),
    ({"val_source": "v.txt"}, "data.val_source: must be a .csv/.npz path, got 'v.txt'"),
])
def test_bad_values_of_the_new_keys_are_one_line_errors(run_cli, tiny_config, data, message):
    cfg = tiny_config(data=data)
    result = run_cli("train", cfg, "-q")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {cfg}: {message}\n"


def test_layers_and_hidden_together_are_refused(run_cli, tiny_config):
    cfg = tiny_config(model={"layers": [2, 3, 2], "hidden": [3]})
    result = run_cli("train", cfg, "-q")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {cfg}: model.hidden: give model.layers or model.hidden, not both\n"
    # on the command line, one replaces the file's other
    cfg = tiny_config(model={"layers": [2, 3, 2]})
    assert run_cli("train", cfg, "-q", "--set", "model.hidden=[5]", "--set", "train.epochs=0").exit_code == 0
    assert yaml.safe_load((cfg.parent / "run" / "config.yaml").read_text())["model"]["layers"] == [2, 5, 2]


@pytest.mark.parametrize("data, message", [
    ({"drop": ["x1"]}, "moons: data.drop: is for a .csv or .npz source, not the built-in 'moons'"),
    ({"impute": "mean"}, "moons: data.impute: is for a .csv or .npz source, not the built-in 'moons'"),
])
def test_column_keys_on_a_generator_are_refused(run_cli, tiny_config, data, message):
    result = run_cli("train", tiny_config(data=data), "-q")
    assert result.exit_code == 2 and result.stderr == f"Error: {message}\n"


def test_npz_drop_by_index_and_nan_imputed(run_cli, tiny_config, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    y = (X[:, 0] > 0).astype(int)
    X[7, 2] = np.nan
    np.savez(tmp_path / "d.npz", X=X, y=y)
    refused = run_cli("train", tiny_config(data={"source": str(tmp_path / "d.npz")}), "-q")
    assert refused.exit_code == 2
    assert refused.stderr == (f"Error: {tmp_path / 'd.npz'}: X[7, 2] is nan, not a finite number; set data.impute "
                              "to fill missing (NaN) values\n")
    cfg = tiny_config(model={"hidden": [3]}, data={"source": str(tmp_path / "d.npz"), "drop": [1], "impute": "mean"})
    assert run_cli("train", cfg, "-q").exit_code == 0
    meta = meta_of(tmp_path / "run/checkpoints/last.npz")
    assert meta["feature_names"] == ["x1", "x3"] and meta["config"]["model"]["layers"] == [2, 3, 2]


def test_encode_equals_scikit_learns_one_hot_encoder_with_unseen_categories():
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(3)
    train = rng.choice(["a", "b", "c", "d"], size=(200, 2))
    new = rng.choice(["a", "b", "c", "d", "e"], size=(50, 2))
    frame = columns_mod.Frame([columns_mod.Column("u", "category"), columns_mod.Column("v", "category")],
                              np.empty((200, 0)), train)
    fitted = columns_mod.fit(frame, "none", "t")
    X, unseen = columns_mod.encode(fitted, columns_mod.Frame(fitted, np.empty((50, 0)), new), "t")
    reference = OneHotEncoder(handle_unknown="ignore").fit(train).transform(new).toarray()
    np.testing.assert_array_equal(X, reference)
    assert unseen == int((new == "e").any(axis=1).sum()) > 0


def test_predict_with_ids_and_labels(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q").exit_code == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.npz"
    rows = cellar_rows(5, 7)
    rows[2]["id"] = 'odd, "quoted" id'
    text = io.StringIO()
    write_table(text, rows)
    labels = run_cli("predict", ckpt, input=text.getvalue()).stdout.splitlines()
    with_ids = run_cli("predict", ckpt, "--id", "id", input=text.getvalue())
    assert with_ids.exit_code == 0
    assert list(csv.reader(io.StringIO(with_ids.stdout))) == [["id", "label"]] + [
        [r["id"], label] for r, label in zip(rows, labels)]
    proba = list(csv.reader(io.StringIO(run_cli("predict", ckpt, "--proba", input=text.getvalue()).stdout)))
    both = run_cli("predict", ckpt, "--proba", "--label", "--id", "id", input=text.getvalue())
    table = list(csv.reader(io.StringIO(both.stdout)))
    assert table[0] == ["id", *CULTIVARS, "label"]
    assert [row[1:4] for row in table[1:]] == proba[1:]  # the same probabilities, same format
    assert [row[0] for row in table[1:]] == [r["id"] for r in rows] and [row[4] for row in table[1:]] == labels
    missing = run_cli("predict", ckpt, "--id", "serial", input=text.getvalue())
    assert missing.exit_code == 2 and missing.stderr.endswith("--id: no column named 'serial' in the header\n")
    assert run_cli("predict", ckpt, "--label", input=text.getvalue()).exit_code == 2


def test_config_prints_the_resolved_config_with_sizes_from_the_data(run_cli, cellar, tmp_path):
    result = run_cli("config", cellar)
    assert result.exit_code == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["model"]["layers"] == [7, 8, 3] and shown["model"]["hidden"] is None
    assert shown["train"]["epochs"] == 8 and shown["data"]["impute"] == "median"
    assert not (tmp_path / "run").exists()
    as_json = run_cli("config", cellar, "--json", "--set", "train.alpha=0.1")
    assert json.loads(as_json.stdout)["train"]["alpha"] == 0.1
    bad = run_cli("config", cellar, "--set", "data.label=grape")
    assert bad.exit_code == 2 and "data.label: no column named 'grape'" in bad.stderr


def test_dry_run_prints_the_overview_and_writes_nothing(run_cli, cellar, tmp_path):
    result = run_cli("train", cellar, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["layers"] == [7, 8, 3] and facts["parameters"] == 7 * 8 + 8 + 8 * 3 + 3
    assert facts["rows"] == {"train": 300, "val": 60, "test": 60}
    train = list(csv.DictReader(open(tmp_path / "cellar.csv", encoding="utf-8")))
    assert facts["classes"] == {c: sum(r["cultivar"] == c for r in train) for c in CULTIVARS}
    assert [c["name"] for c in facts["columns"]] == ["alcohol", "acidity", "colour", "region"]
    assert not (tmp_path / "run").exists()
    text = run_cli("train", cellar, "--dry-run")
    assert " ".join(text.stdout.split()).startswith("network [7, 8, 3] (sigmoid), 91 parameters. Data ")
    trained = run_cli("train", cellar)  # the same paragraph on stderr before training
    assert " ".join(text.stdout.split()) in " ".join(trained.stderr.split())


def test_eval_counts_the_rows_with_an_unseen_category(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q").exit_code == 0
    rows = cellar_rows(30, 8, missing=False)
    rows[4]["region"], rows[9]["colour"], rows[9]["region"] = "langhe", "orange", "roero"
    write_table(tmp_path / "more.csv", rows)
    ckpt = tmp_path / "run" / "checkpoints" / "last.npz"
    report = json.loads(run_cli("eval", ckpt, "--data", tmp_path / "more.csv", "--json").stdout)
    assert report["unseen_categories"] == 2 and report["samples"] == 30
    text = run_cli("eval", ckpt, "--data", tmp_path / "more.csv").stdout
    assert "2 row(s) held a category unseen in training (all zeros in its one-hot columns)" in text
    assert json.loads(run_cli("eval", ckpt, "--json").stdout)["unseen_categories"] == 0


def test_a_sweep_over_hidden_sizes_tables_the_sizes_given(run_cli, cellar, tmp_path):
    result = run_cli("sweep", cellar, "--grid", "model.hidden=[4],[6,3]", "--set", "train.epochs=2",
                     "--out", tmp_path / "sweep", "-q", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["model.hidden"] for row in rows] == [[4], [6, 3]]
    stored = yaml.safe_load((tmp_path / "sweep" / "hidden-6x3" / "config.yaml").read_text())
    assert stored["model"]["layers"] == [7, 6, 3, 3]


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[3].update(cultivar="NA"), "line 5, column 'cultivar': missing label ('NA'); every training "
                                                  "row needs its class"),
    (lambda rows: rows[6].update(colour="multi\nline"), "column 'colour': the category 'multi\\nline' holds a control "
                                                        "character; categories must be printable text"),
    (lambda rows: [r.update(region=f"r{i}") for i, r in enumerate(rows)],
     "column 'region' has 180 different values in 180 train rows; it looks like an id: add it to data.drop (or "
     "list it in data.categorical to one-hot encode it anyway)"),
])
def test_data_a_checkpoint_could_not_describe_is_refused_before_writing(run_cli, tiny_config, tmp_path, edit,
                                                                         message):
    rows = cellar_rows(300, 6, missing=False)
    edit(rows)
    path = write_table(tmp_path / "c.csv", rows)
    cfg = tiny_config(model={"hidden": [3]}, data={"source": str(path), "label": "cultivar", "drop": ["id"]})
    result = run_cli("train", cfg, "-q")
    assert result.exit_code == 2 and result.stderr == f"Error: {path}: {message}\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("header, message", [
    ("id,,acidity,cultivar", "line 1: column 1 (0-based) has no name; name it, or add its index to data.drop"),
    ("id,colour=red,colour,cultivar", "two inputs would be named 'colour=red' (a column of that name, and a "
                                      "category of another column); rename or drop one"),
])
def test_input_names_must_be_distinct_and_named(run_cli, tiny_config, tmp_path, header, message):
    lines = [header] + [f"w{i},{i % 2},{['red', 'white'][i % 2]},{['a', 'b'][i % 2]}" for i in range(40)]
    (tmp_path / "c.csv").write_text("\n".join(lines) + "\n")
    cfg = tiny_config(model={"hidden": [3]}, data={"source": str(tmp_path / "c.csv"), "drop": ["id"]})
    result = run_cli("train", cfg, "-q")
    assert result.exit_code == 2 and result.stderr == f"Error: {tmp_path / 'c.csv'}: {message}\n"


def test_a_class_only_in_the_test_file_is_refused(run_cli, cellar, tmp_path):
    rows = cellar_rows(60, 3)
    rows[0]["cultivar"] = "freisa"
    write_table(tmp_path / "cellar-test.csv", rows)
    result = run_cli("train", cellar, "-q")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {tmp_path / 'cellar.csv'}: class 'freisa' has no row in the train split (only "
                             f"in {tmp_path / 'cellar-val.csv'} or {tmp_path / 'cellar-test.csv'}); the network "
                             "could never learn it\n")


def test_train_says_how_many_val_and_test_rows_hold_unseen_categories(run_cli, cellar, tmp_path):
    rows = cellar_rows(60, 2)
    for r in rows[:7]:
        r["region"] = "roero"
    write_table(tmp_path / "cellar-val.csv", rows)
    facts = json.loads(run_cli("train", cellar, "--dry-run", "--json").stdout)
    assert facts["unseen_categories"] == {"train": 0, "val": 7, "test": 0}
    trained = run_cli("train", cellar)
    assert "7 val rows hold a category the train split lacks" in " ".join(trained.stderr.split())


def test_dry_run_refuses_what_train_would(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q", "--set", "train.epochs=1").exit_code == 0
    taken = run_cli("train", cellar, "--dry-run")
    assert taken.exit_code == 2 and "already holds a run" in taken.stderr
    assert run_cli("train", cellar, "--dry-run", "--force").exit_code == 0
    assert run_cli("train", cellar, "--dry-run", "--resume").exit_code == 2


def test_a_fill_outside_the_categories_is_not_a_valid_meta():
    column = {"name": "colour", "kind": "category", "categories": ["red", "white"], "fill": "red"}
    assert columns_mod.valid_json([column])
    assert not columns_mod.valid_json([{**column, "fill": "purple"}])


def test_eval_names_the_split_file_it_read_and_the_one_that_changed(run_cli, cellar, tmp_path):
    assert run_cli("train", cellar, "-q").exit_code == 0
    run = tmp_path / "run"
    report = json.loads(run_cli("eval", run, "--json").stdout)
    assert report["source"] == str(tmp_path / "cellar-test.csv") and report["samples"] == 60
    write_table(tmp_path / "cellar-val.csv", cellar_rows(61, 2))
    changed = run_cli("eval", run, "--split", "val")
    assert changed.exit_code == 2
    val = tmp_path / "cellar-val.csv"
    assert changed.stderr.endswith(f": {val} has changed since the network was trained on it (60 rows then, 61 now)"
                                   f", so its splits are not the run's; to score the file as it is now, use --data "
                                   f"{val}\n")


def test_messages_name_the_right_cause(run_cli, tiny_config, cellar, tmp_path):
    # a trained network without data.impute, given a missing cell by eval --data: the network's limit
    config = yaml.safe_load(cellar.read_text())
    config["data"]["impute"] = "none"
    for name, seed in (("cellar.csv", 1), ("cellar-val.csv", 2), ("cellar-test.csv", 3)):
        write_table(tmp_path / name, cellar_rows(300 if seed == 1 else 60, seed, missing=False))
    cellar.write_text(yaml.safe_dump(config))
    assert run_cli("train", cellar, "-q").exit_code == 0
    gap = cellar_rows(10, 4, missing=False)
    gap[2]["alcohol"] = ""
    write_table(tmp_path / "gap.csv", gap)
    result = run_cli("eval", tmp_path / "run", "--data", tmp_path / "gap.csv")
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: {tmp_path / 'gap.csv'}: line 4, column 'alcohol': missing value; the network "
                                  "was trained without data.impute\n")
    # a header with a number among its names
    (tmp_path / "years.csv").write_text("region,2019,label\n" + "".join(f"r{i},{i},{i % 2}\n" for i in range(30)))
    years = run_cli("train", tiny_config(name="y.yaml", data={"source": str(tmp_path / "years.csv")}), "-q")
    assert years.exit_code == 2 and years.stderr == (f"Error: {tmp_path / 'years.csv'}: line 1: column name '2019' is "
                                                     "a number; name the columns with text (e.g. y2019)\n")
    # an .npz drop index past X's columns
    np.savez(tmp_path / "d.npz", X=np.zeros((40, 3)), y=np.arange(40) % 2)
    npz = run_cli("train", tiny_config(name="n.yaml", data={"source": str(tmp_path / "d.npz"), "drop": [3]}), "-q")
    assert npz.exit_code == 2 and npz.stderr == (f"Error: {tmp_path / 'd.npz'}: data.drop: 3 is not a column of X "
                                                 "(x1 … x3, or 0 … 2); the labels y are not a column\n")


@pytest.mark.parametrize("text, message", [
    ("0_0,\n", "only a header row, no data rows"),  # "0_0" is a name: a CSV number has no "_" (found by the fuzz test)
    ("x,2019,label\n1,2,3\n", "line 1: column name '2019' is a number; name the columns with text (e.g. y2019)"),
    ("1,2,label\n1,2,3\n", "line 1: expected a header row of column names, got numbers; add one, e.g. x1,x2,label"),
])
def test_header_rows_with_number_like_names(text, message):
    from nnctl.data import csvfile
    from nnctl.errors import DataError

    with pytest.raises(DataError) as error:
        csvfile.read_labeled(text, "f.csv")
    assert str(error.value) == f"f.csv: {message}"
