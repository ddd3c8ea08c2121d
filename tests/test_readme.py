"""The README's code runs: every ```python block, in order, in one namespace."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 (our own README)
    assert namespace["accuracy"] > 0.85
    assert namespace["saliency"].shape == (8, 784)
    assert namespace["history"].history["val_accuracy"][-1] > 0.85
    assert namespace["scores"].mean() > 0.7
    assert namespace["row_accuracy"] > 0.8                      # the sequence section
    assert namespace["tagger"]._masks and 0.0 <= namespace["tag_accuracy"] <= 1.0
    assert [v.shape for v in namespace["encoder"].predict(namespace["xs_test"][:2])] == \
        [(2, 28, 32), (2, 32), (2, 32)]
    club, communities = namespace["club"], namespace["communities"]
    assert (communities == club.labels).sum() >= 32          # 30 of the 32 unlabelled, and 0, 33
    assert namespace["attention"].output_shape == [(5, 8), (2, 5, 7)]


def test_readme_starts_with_the_two_setup_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert first_block[0].startswith("pip install . && python -m nnlite")
    assert first_block[1].startswith('pip install -e ".[test]" && python -m pytest -q')
    run_ci = (README.parent / ".ci" / "run").read_text()
    assert "python -m pytest -q" in run_ci
