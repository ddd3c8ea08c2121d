"""PyTorch reference computations for the parity tests (float64, same weights)."""


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
        "gelu": lambda t: F.gelu(t, approximate="none"),
        "elu": lambda t: F.elu(t, params.get("alpha", 1.0)),
        "silu": F.silu,
        "softsign": F.softsign,
        # the defining formula relu6(x+3)/6: F.hardsigmoid's backward uses 1/6 rounded to
        # float32 (0.1666666716...) even in float64, a 3e-8 relative error
        "hard_sigmoid": lambda t: F.relu6(t + 3.0) / 6.0,
    }
    return table[name]


def _torch_pads(layer, h, w, dilation=(1, 1)):
    """F.pad argument (left, right, top, bottom) for Keras 'same' padding (odd pixel last)."""
    from cnn_ref import same_pads

    if layer.padding == "valid":
        return (0, 0, 0, 0)
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    top, bottom = same_pads(h, kernel[0], layer.strides[0], dilation[0])
    left, right = same_pads(w, kernel[1], layer.strides[1], dilation[1])
    return (left, right, top, bottom)


def _image_layer(layer, x_t, params_t):
    """torch for the image layers (Conv2D, pooling); None for other layers."""
    import torch
    import torch.nn.functional as F

    kind = type(layer).__name__
    h, w = x_t.shape[2:]
    if kind == "Conv2D":
        xp = F.pad(x_t, _torch_pads(layer, h, w, layer.dilation_rate))
        z = F.conv2d(xp, params_t["kernel"], params_t.get("bias"), stride=layer.strides,
                     dilation=layer.dilation_rate)
        return activation(layer.activation.name, layer.activation.params)(z)
    if kind == "MaxPool2D":
        xp = F.pad(x_t, _torch_pads(layer, h, w), value=float("-inf"))
        return F.max_pool2d(xp, layer.pool_size, layer.strides)
    if kind == "AvgPool2D":  # padded pixels are not counted: sum / number of real pixels
        pads = _torch_pads(layer, h, w)
        total = F.avg_pool2d(F.pad(x_t, pads), layer.pool_size, layer.strides)
        count = F.avg_pool2d(F.pad(torch.ones_like(x_t), pads), layer.pool_size, layer.strides)
        return total / count
    if kind == "GlobalAveragePooling2D":
        return x_t.mean(dim=(2, 3), keepdim=layer.keepdims)
    return None


def layer_forward(layer, x_t, params_t):
    """The torch computation of an nnlite layer given torch tensors of its params."""
    import torch
    import torch.nn.functional as F

    kind = type(layer).__name__
    image = _image_layer(layer, x_t, params_t) if x_t.dim() == 4 else None
    if image is not None:
        return image
    if kind == "Residual":  # x + block(x) (+ projection), params keyed "<inner>/<param>"
        def sub(local, inner):
            return {k.split("/", 1)[1]: v for k, v in params_t.items()
                    if k.split("/", 1)[0] == local}
        named = list(layer._named_sublayers())
        h = x_t
        for local, inner in named[:len(layer.block)]:
            h = layer_forward(inner, h, sub(local, inner))
        if len(named) > len(layer.block):
            local, inner = named[-1]
            return h + layer_forward(inner, x_t, sub(local, inner))
        return h + x_t
    if kind == "Flatten":
        return torch.flatten(x_t, 1)
    if kind == "Reshape":
        return x_t.reshape((x_t.shape[0],) + tuple(layer.target_shape))
    if kind == "BatchNormalization":  # training mode: batch statistics (biased variance)
        return F.batch_norm(x_t, None, None, params_t["gamma"], params_t["beta"], training=True,
                            eps=layer.epsilon)
    if kind == "LayerNormalization":
        return F.layer_norm(x_t, x_t.shape[-1:], params_t["gamma"], params_t["beta"],
                            eps=layer.epsilon)
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
