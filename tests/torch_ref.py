"""PyTorch reference computations for the parity tests (float64, same weights)."""
import numpy as np


def activation(name, params=()):
    import torch
    import torch.nn.functional as F

    params = dict(params)
    table = {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, params.get("alpha", 0.01)),
        # threshold: PyTorch's default switches to the identity above 20 (an approximation)
        "softplus": lambda t: F.softplus(t, beta=1.0, threshold=1e4),
        "softmax": lambda t: torch.softmax(t, dim=-1),
        "linear": lambda t: t,
    }
    return table[name]


def layer_forward(layer, x_t, params_t):
    """The torch computation of an nnlite layer given torch tensors of its params."""
    import torch.nn.functional as F

    kind = type(layer).__name__
    if kind == "Dense":
        z = F.linear(x_t, params_t["kernel"].T, params_t.get("bias"))
        return activation(layer.activation.name, layer.activation.params)(z)
    if hasattr(layer, "activation"):
        return activation(layer.activation.name, layer.activation.params)(x_t)
    raise NotImplementedError(kind)


def layer_grads(layer, x, dy):
    """Forward output, input gradient and parameter gradients computed by PyTorch."""
    import torch

    x_t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    params_t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
                for k, v in layer.params.items()}
    y_t = layer_forward(layer, x_t, params_t)
    y_t.backward(torch.tensor(dy, dtype=torch.float64))
    return (y_t.detach().numpy(), x_t.grad.numpy(),
            {k: t.grad.numpy() for k, t in params_t.items()})
