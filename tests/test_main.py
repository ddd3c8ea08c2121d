"""The main job: ``python -m nnlite`` trains on the built-in data and prints the accuracy."""
import re
import subprocess
import sys


def test_python_m_nnlite_trains_and_reports_accuracy(tmp_path):
    result = subprocess.run([sys.executable, "-m", "nnlite", "--epochs", "2", "--quiet"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    match = re.search(r"test accuracy: (0\.\d+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) > 0.9


def test_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "nnlite", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_fresh_non_editable_install_runs_offline(tmp_path):
    """Build the wheel, install it into an empty target (not editable) and run the main job from
    another directory, without network where ``unshare -n`` is available."""
    import os
    import shutil
    from pathlib import Path

    root = tmp_path / "src"  # a copy, so setuptools' build/ never lands in the work tree
    shutil.copytree(Path(__file__).resolve().parents[1], root, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", ".*cache*", "tests", "notebooks",
        "benchmarks"))
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(wheel_dir), str(root)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(wheel_dir.glob("nnlite-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                              "--target", str(target), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    command = [sys.executable, "-m", "nnlite", "--epochs", "1", "--quiet"]
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"]).returncode == 0:
        command = ["unshare", "-n", *command]
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr
    assert "test accuracy: 0.9" in result.stdout
    check = subprocess.run([sys.executable, "-c", "import nnlite; print(nnlite.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert check.stdout.strip().startswith(str(target))
