"""fit(verbose=1) in a Jupyter kernel (run by nbclient) prints a bounded amount of output: it
grows with the epochs, never with the batches."""
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

SETUP = """
import numpy as np, nnlite
from nnlite.layers import Dense
rng = np.random.default_rng(0)
x = rng.standard_normal((2000, 4)); y = (x[:, 0] > 0).astype(int)
def run(batch_size):
    model = nnlite.Sequential([Dense(8, activation="relu", input_dim=4),
                               Dense(1, activation="sigmoid")], seed=0)
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=5, batch_size=batch_size, verbose=1)
"""


def _text(outputs):
    parts = []
    for out in outputs:
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append("".join(str(v) for v in out["data"].values()))
    return "".join(parts)


def test_progress_output_is_bounded_in_a_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP),
                nbformat.v4.new_code_cell("run(1000)"),   # 2 batches per epoch
                nbformat.v4.new_code_cell("run(1)")]      # 2000 batches per epoch
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    few, many = _text(nb.cells[1].outputs), _text(nb.cells[2].outputs)
    for text in (few, many):
        lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
        assert len(lines) <= 5, text[:500]                    # one line per epoch
        assert "Epoch 5/5" in text and "loss" in text
    # the kernel may split a printed line over two stream messages (flush timing), so bound
    # the message count by the epochs, not by the other cell's count
    for cell in nb.cells[1:]:
        assert len(cell.outputs) <= 2 * 5 + 1, cell.outputs
    assert len(many) < 2 * len(few) + 200                      # no per-batch output
