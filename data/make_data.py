"""Make the small datasets in data/ (run from the repository root: python data/make_data.py).

Each file is in the CSV format nnctl reads: a header row, one sample per row, the class in a column named
``label`` (or, without one, the last column). Fixed seeds and 6 decimals make the output byte-identical on
every run, so a diff after re-running shows a real change.
"""
import csv
from pathlib import Path

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


if __name__ == "__main__":
    moons()
    iris()
