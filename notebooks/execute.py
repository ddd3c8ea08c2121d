"""Re-run the lecture notebooks top to bottom and save them with their outputs.

    python notebooks/execute.py            # every notebook in this folder
    python notebooks/execute.py 03 05      # those whose names start with 03 or 05

Each notebook runs in a fresh ``python3`` kernel whose working directory is this folder (with this
checkout first on ``PYTHONPATH``), so the saved execution counts are 1..n
(``tests/test_notebooks.py`` checks that).  BLAS is limited to one thread: the notebooks'
matrices are small, and on a busy machine threaded BLAS is many times slower.  A notebook whose
run fails is not overwritten.
"""
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, path)
    print(f"{path.name}: {time.perf_counter() - start:.1f} s, {path.stat().st_size / 1024:.0f} KB")


def main(prefixes) -> None:
    os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # the kernels import nnlite from this checkout, installed or not
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(HERE.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    paths = sorted(p for p in HERE.glob("*.ipynb")
                   if not prefixes or p.name.startswith(tuple(prefixes)))
    if not paths:
        sys.exit(f"no notebook in {HERE} starts with {prefixes}")
    for path in paths:
        execute(path)


if __name__ == "__main__":
    main(sys.argv[1:])
