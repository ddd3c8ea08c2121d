"""PyTorch counterparts of nnlite's attention layers with the same weights (float64), written
independently of ``nnlite.export_attention`` (the exporter is tested against ``predict``)."""
import numpy as np


def _t(torch, a):
    return torch.tensor(np.array(a), dtype=torch.float64)


def torch_mha(layer):
    """nn.MultiheadAttention(E, heads, kdim, vdim, batch_first=True) holding ``layer``'s weights
    (needs heads·key_dim = heads·value_dim = E = the query's features = the output's)."""
    import torch

    p = layer.params
    e = p["query_kernel"].shape[0]
    kdim, vdim = p["key_kernel"].shape[0], p["value_kernel"].shape[0]
    net = torch.nn.MultiheadAttention(e, layer.num_heads, bias=layer.use_bias, kdim=kdim,
                                      vdim=vdim, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        weights = [p[f"{n}_kernel"].reshape(p[f"{n}_kernel"].shape[0], -1).T
                   for n in ("query", "key", "value")]
        if net._qkv_same_embed_dim:
            net.in_proj_weight.copy_(_t(torch, np.concatenate(weights)))
        else:
            for w, name in zip(weights, ("q_proj_weight", "k_proj_weight", "v_proj_weight")):
                getattr(net, name).copy_(_t(torch, w))
        net.out_proj.weight.copy_(_t(torch, p["output_kernel"].reshape(-1, e).T))
        if layer.use_bias:
            net.in_proj_bias.copy_(_t(torch, np.concatenate(
                [p[f"{n}_bias"].reshape(-1) for n in ("query", "key", "value")])))
            net.out_proj.bias.copy_(_t(torch, p["output_bias"]))
    return net


def torch_encoder(layer):
    """nn.TransformerEncoderLayer with ``layer``'s (a built TransformerEncoder) weights."""
    import torch

    sub = dict(layer._named)
    mha = sub["self_attention"]
    e = mha.params["query_kernel"].shape[0]
    net = torch.nn.TransformerEncoderLayer(
        e, layer.num_heads, layer.intermediate_dim, dropout=0.0,
        activation={"relu": "relu", "gelu": "gelu"}[layer.activation.name],
        layer_norm_eps=layer.layer_norm_epsilon, batch_first=True,
        norm_first=layer.normalize_first, dtype=torch.float64)
    net.self_attn = torch_mha(mha)
    with torch.no_grad():
        for name, dense in (("linear1", "feedforward_intermediate_dense"),
                            ("linear2", "feedforward_output_dense")):
            getattr(net, name).weight.copy_(_t(torch, sub[dense].params["kernel"].T))
            getattr(net, name).bias.copy_(_t(torch, sub[dense].params["bias"]))
        for name, norm in (("norm1", "self_attention_layer_norm"),
                           ("norm2", "feedforward_layer_norm")):
            getattr(net, name).weight.copy_(_t(torch, sub[norm].params["gamma"]))
            getattr(net, name).bias.copy_(_t(torch, sub[norm].params["beta"]))
    return net


def blocked(allowed, heads):
    """nnlite's 'may attend' (batch, T, S) → PyTorch's attn_mask (batch·heads, T, S), True =
    blocked."""
    import torch

    return torch.tensor(~np.asarray(allowed, dtype=bool)).repeat_interleave(heads, dim=0)
