"""The ViT of W8 (benchmarks/vit.py) against its PyTorch export, float32 and float64: one batch's
loss and every parameter gradient (as the change of one SGD step with rate 1), then the weights
after five Adam steps on the same batches — the kernels the speed work changed (the float32
GELU, attention, LayerNorm) inside one model."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

CLOSE = {"float64": {"rtol": 1e-8, "atol": 1e-10}, "float32": {"rtol": 1e-3, "atol": 1e-5}}


def _params(torch_module):
    return [p.detach().numpy().copy() for p in torch_module.parameters()]


def _torch_steps(torch, net, opt, x, y, batch):
    losses = []
    for start in range(0, len(x), batch):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x[start:start + batch])),
                                                 torch.from_numpy(y[start:start + batch]))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_vit_gradients_and_adam_steps_match_pytorch(dtype):
    torch = pytest.importorskip("torch")
    from vit import nnlite_vit

    import nnlite.export

    rng = np.random.default_rng(0)
    x, y = rng.random((80, 1, 28, 28)).astype(dtype), rng.integers(0, 10, 80)
    close = CLOSE[dtype]
    loss = nnlite.losses.SparseCategoricalCrossEntropy(from_logits=True)
    model = nnlite_vit(0, dtype=dtype)
    model.compile(nnlite.optimizers.SGD(learning_rate=1.0), loss)
    model.build()
    init = model.get_weights()
    before = _params(nnlite.export.to_torch(model))

    # one SGD step of rate 1 on 16 images: the weights move by minus the gradient
    net = nnlite.export.to_torch(model).train(True)
    [torch_loss] = _torch_steps(torch, net, torch.optim.SGD(net.parameters(), lr=1.0), x[:16],
                                y[:16], 16)
    history = model.fit(x[:16], y[:16], epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], torch_loss, **close)
    moved = [a - b for a, b in zip(_params(nnlite.export.to_torch(model)), before)]
    torch_moved = [a - b for a, b in zip(_params(net), before)]
    assert len(moved) == 32 and all(np.abs(m).max() > 0 for m in moved)  # QKV fused in torch
    for k, (got, want) in enumerate(zip(moved, torch_moved)):
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=close["rtol"],
                                   atol=close["rtol"] * scale + close["atol"],
                                   err_msg=f"parameter {k}")

    # five Adam steps on the same batches
    model.set_weights(init)
    model.compile(nnlite.optimizers.Adam(learning_rate=1e-3), loss)
    net = nnlite.export.to_torch(model).train(True)
    torch_losses = _torch_steps(torch, net, torch.optim.Adam(net.parameters(), lr=1e-3), x, y,
                                16)
    losses = [model.train_on_batch(x[s:s + 16], y[s:s + 16]) for s in range(0, 80, 16)]
    np.testing.assert_allclose(np.ravel(losses), torch_losses, **close)
    for k, (got, want) in enumerate(zip(_params(nnlite.export.to_torch(model)), _params(net))):
        if got.shape == (192,):
            # the key bias of in_proj_bias: its gradient is 0 in exact arithmetic (a softmax
            # ignores a constant per row) and rounding noise in float32, which Adam scales to
            # steps of ±lr in both libraries, differently
            got, want = np.delete(got, slice(64, 128)), np.delete(want, slice(64, 128))
        np.testing.assert_allclose(got, want, rtol=close["rtol"], atol=10 * close["atol"],
                                   err_msg=f"parameter {k} after 5 Adam steps")
