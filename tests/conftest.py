import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _raise_on_floating_point_errors():
    # Overflow, division by zero and invalid operations are errors in every test (underflow is
    # the normal fate of exp(-large) and stays silent).
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        yield
