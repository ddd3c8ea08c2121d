"""Independent references for the sequence layers: plain NumPy loops (forward, with masks) and
PyTorch modules with the weights mapped by hand (forward and backward, float64)."""
import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


FUNCTIONS = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0.0),
             "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0)}


# ----------------------------------------------------------------------------- NumPy forward
def rnn_forward(layer, x, mask=None):
    """Output and final states of SimpleRNN/LSTM/GRU, one step at a time (carried or zeroed
    outputs at masked steps, as the layer's zero_output_for_mask says)."""
    kind = type(layer).__name__
    act = FUNCTIONS[layer.activation.name]
    sig = FUNCTIONS[getattr(layer, "recurrent_activation", layer.activation).name]
    p = dict(layer.params)
    if "bias" not in p:
        p["bias"] = np.zeros((2, 3 * layer.units) if kind == "GRU" and layer.reset_after
                             else (layer.gates * layer.units,))
    n, steps, _ = x.shape
    h_units = layer.units
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    h = np.zeros((n, h_units))
    c = np.zeros((n, h_units))
    outs = []
    for t in order:
        xt = x[:, t]
        if kind == "SimpleRNN":
            new_h = act(xt @ p["kernel"] + h @ p["recurrent_kernel"] + p["bias"])
            new_c = c
        elif kind == "LSTM":
            z = xt @ p["kernel"] + h @ p["recurrent_kernel"] + p["bias"]
            i, f, g, o = np.split(z, 4, axis=1)
            new_c = sig(f) * c + sig(i) * act(g)
            new_h = sig(o) * act(new_c)
        else:  # GRU
            b = p["bias"]
            if layer.reset_after:
                xz, xr, xh = np.split(xt @ p["kernel"] + b[0], 3, axis=1)
                uz, ur, uh = np.split(h @ p["recurrent_kernel"] + b[1], 3, axis=1)
                z, r = sig(xz + uz), sig(xr + ur)
                hh = act(xh + r * uh)
            else:
                xz, xr, xh = np.split(xt @ p["kernel"] + b, 3, axis=1)
                u = p["recurrent_kernel"]
                z = sig(xz + h @ u[:, :h_units])
                r = sig(xr + h @ u[:, h_units:2 * h_units])
                hh = act(xh + (r * h) @ u[:, 2 * h_units:])
            new_h = z * h + (1 - z) * hh
            new_c = c
        if mask is not None:
            keep = mask[:, t][:, None]
            new_h = np.where(keep, new_h, h)
            new_c = np.where(keep, new_c, c)
        h, c = new_h, new_c
        zero = mask is not None and layer.zero_output_for_mask
        outs.append(np.where(mask[:, t][:, None], h, 0.0) if zero else h)
    seq = np.stack(outs, axis=1)
    states = [h, c] if kind == "LSTM" else [h]
    return (seq if layer.return_sequences else h), states


# ----------------------------------------------------------------------------- PyTorch
def torch_rnn(layer):
    """A torch.nn.{RNN, LSTM, GRU} (float64, batch_first) holding ``layer``'s weights, and a
    function mapping the torch parameter gradients back to nnlite's names and layouts."""
    import torch

    kind = type(layer).__name__
    h = layer.units
    features = layer.input_shape[-1]
    p = layer.params
    cls = {"SimpleRNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    module = cls(features, h, batch_first=True, dtype=torch.float64)
    if kind == "GRU":  # Keras z, r, h  ->  torch r, z, n
        perm = np.r_[h:2 * h, 0:h, 2 * h:3 * h]
        w_ih, w_hh = p["kernel"][:, perm].T, p["recurrent_kernel"][:, perm].T
        b_ih, b_hh = p["bias"][0][perm], p["bias"][1][perm]
    else:  # LSTM: Keras i, f, c, o is torch's i, f, g, o; one bias -> b_ih (b_hh = 0)
        w_ih, w_hh = p["kernel"].T, p["recurrent_kernel"].T
        b_ih, b_hh = p["bias"], np.zeros_like(p["bias"])
    with torch.no_grad():
        for name, value in (("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh),
                            ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)):
            getattr(module, name).copy_(torch.tensor(np.ascontiguousarray(value)))

    def grads():
        g = {name: getattr(module, name).grad.numpy() for name in
             ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")}
        if kind == "GRU":
            inv = np.argsort(perm)
            return {"kernel": g["weight_ih_l0"].T[:, inv],
                    "recurrent_kernel": g["weight_hh_l0"].T[:, inv],
                    "bias": np.stack([g["bias_ih_l0"][inv], g["bias_hh_l0"][inv]])}
        return {"kernel": g["weight_ih_l0"].T, "recurrent_kernel": g["weight_hh_l0"].T,
                "bias": g["bias_ih_l0"]}
    return module, grads


def torch_rnn_grads(layer, x, dy, state_dys=()):
    """(y, dx, param grads, final states) of ``layer`` computed by PyTorch for the scalar
    Σ dy ⊙ y + Σ_k state_dys[k] ⊙ state_k."""
    import torch

    module, grads = torch_rnn(layer)
    x_t = torch.tensor(x, requires_grad=True)
    inp = torch.flip(x_t, (1,)) if layer.go_backwards else x_t
    out, states = module(inp)
    states = states if isinstance(states, tuple) else (states,)
    states = [s[0] for s in states]
    y = out if layer.return_sequences else out[:, -1]
    total = (y * torch.tensor(dy)).sum()
    for s, d in zip(states, state_dys):
        total = total + (s * torch.tensor(d)).sum()
    total.backward()
    return (y.detach().numpy(), x_t.grad.numpy(), grads(),
            [s.detach().numpy() for s in states])
