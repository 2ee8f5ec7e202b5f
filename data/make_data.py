"""Make the small datasets in data/ (run from the repository root: python data/make_data.py).

Each file is in the CSV format nnctl reads: a header row, one sample per row, the class in a column named
``label`` (or, without one, the last column). Fixed seeds and 6 decimals make the output byte-identical on
every run, so a diff after re-running shows a real change.
"""
import csv
from pathlib import Path

import numpy as np
from sklearn import datasets

HERE = Path(__file__).resolve().parent


def write(name, header, rows):
    with open(HERE / name, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)
    print(f"wrote data/{name}: {len(rows)} rows")


def moons():
    """Two interleaving half circles, 300 points, noise 0.2: the default data of configs/testnet.yaml as a file."""
    X, y = datasets.make_moons(n_samples=300, noise=0.2, random_state=0)
    write("moons.csv", ["x1", "x2", "label"], [[f"{a:.6f}", f"{b:.6f}", int(c)] for (a, b), c in zip(X, y)])


def iris():
    """Fisher's iris, 150 flowers: four measurements in cm and the species as text in the last column."""
    bunch = datasets.load_iris()
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    rows = [[f"{v:.1f}" for v in row] + [bunch.target_names[c]] for row, c in zip(bunch.data, bunch.target)]
    write("iris.csv", header, rows)


def cellar_rows(n, seed, missing=True):
    """A made-up wine cellar: an id, two measurements, the cultivar (the class, in the middle), a colour and a
    region as text. The cultivar follows from alcohol, acidity and colour; some cells are missing."""
    rng = np.random.default_rng(seed)
    cultivars, colours = ["barbera", "dolcetto", "nebbiolo"], ["red", "rose", "white"]
    rows = []
    for i in range(n):
        k = int(rng.integers(3))
        alcohol = 11.0 + 1.5 * k + rng.normal(0, 0.4)
        acidity = 3.0 + (k == 1) * 1.5 + rng.normal(0, 0.3)
        colour = colours[k] if rng.random() < 0.85 else colours[int(rng.integers(3))]
        region = ["alba", "asti"][int(rng.integers(2))]
        row = {"id": f"w{seed}-{i}", "alcohol": f"{alcohol:.3f}", "cultivar": cultivars[k],
               "acidity": f"{acidity:.3f}", "colour": colour, "region": region}
        if missing and i % 17 == 3:
            row["acidity"] = ""
        if missing and i % 23 == 5:
            row["colour"] = "NA"
        rows.append(row)
    return rows


def cellar():
    """cellar.csv (240 wines, label column in the middle, an id column, text columns, missing cells) and
    cellar-new.csv (6 wines to predict: no label, other column order, a missing cell, an unseen colour)."""
    fields = ["id", "alcohol", "cultivar", "acidity", "colour", "region"]
    write("cellar.csv", fields, [[r[f] for f in fields] for r in cellar_rows(240, 11)])
    new = cellar_rows(6, 12, missing=False)
    new[3]["colour"], new[1]["acidity"] = "orange", ""
    fields = ["id", "region", "colour", "acidity", "alcohol"]
    write("cellar-new.csv", fields, [[r[f] for f in fields] for r in new])


if __name__ == "__main__":
    moons()
    iris()
    cellar()
