"""PyTorch references for every loss: PyTorch's own loss where it has one
(cross_entropy, nll_loss, binary_cross_entropy, binary_cross_entropy_with_logits), else the
loss composed from torch ops (softmax focal; torchvision's sigmoid_focal_loss with smp's
options and class-index targets; the Dice family), the gradient by autograd.

torch is imported when a reference runs, never at import.  Without torch, or for a case
PyTorch cannot express (a mask with probability targets), a reference raises Unavailable:
the parity harness reports that path as unavailable, never as a pass.

Each reference computes in the input's dtype (float16 in float32, as the kernels do) and
returns (value, grad) as NumPy arrays in that dtype.
"""
import numpy as np


class Unavailable(Exception):
    """PyTorch is not installed, or it cannot express this case."""


def _torch():
    try:
        import torch
    except ImportError:
        raise Unavailable("PyTorch is not installed") from None
    return torch


def _run(input, body, grad_output):
    """Run body(x_tensor) with autograd; (value, grad) as NumPy.  body returns the loss, or
    (loss as shown, loss to differentiate) where they differ (NaN marking a class that is
    left out is shown, and has no gradient)."""
    torch = _torch()
    x = np.asarray(input)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    xt = torch.tensor(np.array(x, dtype=dtype, order="C")).requires_grad_(True)
    v = body(xt)
    shown, v = v if isinstance(v, tuple) else (v, v)
    go = torch.ones_like(v) if grad_output is None else \
        torch.tensor(np.array(grad_output, dtype=dtype, order="C")).expand_as(v)
    (v * go).sum().backward()
    return shown.detach().numpy().astype(x.dtype), xt.grad.numpy().astype(x.dtype)


# torch.tensor takes no negative strides: every array goes in as a C-ordered copy
def _index(t, torch):
    return torch.tensor(np.array(t, dtype=np.int64, order="C"))


def _bool(a, torch):
    return torch.tensor(np.array(a, dtype=bool, order="C"))


def _tensor(a, like, torch):
    return torch.tensor(np.array(a, dtype=np.float64, order="C")).to(like.dtype)


def _spow(b, g, torch):
    """b^g with a finite autograd derivative, taken as 0 where b == 0 (the references'
    convention at the limit; a plain pow gives 0 * inf = NaN there for g < 1)."""
    nz = b != 0
    safe = torch.where(nz, b, torch.ones_like(b))
    return torch.where(nz, safe ** g, torch.full_like(b, 0.0 ** g))


# -- PyTorch's own losses -------------------------------------------------------------------

def cross_entropy(loss, input, target, mask=None, grad_output=None):
    torch = _torch()
    F = torch.nn.functional
    cfg = loss.config
    nll = loss.spec.input == "log_probabilities"
    t = np.asarray(target)
    if t.dtype.kind == "f":
        if mask is not None:
            raise Unavailable("PyTorch has no mask for probability targets")
    elif mask is not None:
        t = np.where(mask, t.astype(np.int64), cfg["ignore_index"])

    def body(xt):
        tt = _tensor(t, xt, torch) if t.dtype.kind == "f" else _index(t, torch)
        w = None if cfg["weight"] is None else _tensor(cfg["weight"], xt, torch)
        if nll:
            return F.nll_loss(xt, tt, weight=w, ignore_index=cfg["ignore_index"],
                              reduction=cfg["reduction"])
        return F.cross_entropy(xt, tt, weight=w, ignore_index=cfg["ignore_index"],
                               reduction=cfg["reduction"],
                               label_smoothing=cfg["label_smoothing"])
    return _run(input, body, grad_output)


def bce(loss, input, target, mask=None, grad_output=None):
    torch = _torch()
    F = torch.nn.functional
    cfg = loss.config
    if mask is not None:
        raise Unavailable("PyTorch's BCE takes no mask")

    def body(xt):
        yt = _tensor(target, xt, torch)
        w = None if cfg["weight"] is None else _tensor(cfg["weight"], xt, torch)
        if loss.spec.input == "logits":
            pw = None if cfg["pos_weight"] is None else _tensor(cfg["pos_weight"], xt, torch)
            return F.binary_cross_entropy_with_logits(xt, yt, weight=w, pos_weight=pw,
                                                      reduction=cfg["reduction"])
        return F.binary_cross_entropy(xt, yt, reduction=cfg["reduction"],
                                      weight=None if w is None else w.expand_as(xt))
    return _run(input, body, grad_output)


# -- composed from torch ops ----------------------------------------------------------------

def _reduce(per, counted, reduction, torch):
    per = torch.where(counted, per, torch.zeros_like(per))
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / counted.sum()


def focal(loss, input, target, mask=None, grad_output=None):
    """Softmax focal loss: log_softmax, gather, -alpha_t (1 - p_t)^gamma log p_t."""
    torch = _torch()
    F = torch.nn.functional
    cfg = loss.config

    def body(xt):
        x = xt if xt.ndim > 1 else xt[None]
        t = _index(target, torch).reshape((x.shape[0],) + tuple(x.shape[2:]))
        counted = t != cfg["ignore_index"]
        if mask is not None:
            counted &= _bool(mask, torch).reshape(counted.shape)
        tc = torch.where(counted, t, torch.zeros_like(t))
        lpt = F.log_softmax(x, dim=1).gather(1, tc.unsqueeze(1)).squeeze(1)
        C = x.shape[1]
        alpha = cfg["alpha"]
        a = torch.ones(C, dtype=x.dtype) if alpha is None else \
            _tensor(alpha, x, torch).expand(C)
        if cfg["_alpha0"] is not None:                         # class 0's alpha
            a = torch.cat([_tensor([cfg["_alpha0"]], x, torch), a[1:]])
        u = -torch.expm1(lpt)                                  # 1 - p_t
        per = -a[tc] * _spow(u, cfg["gamma"], torch) * lpt
        if cfg["reduction"] == "mean" and cfg["_mean_over"] == "elements":
            per = torch.where(counted, per, torch.zeros_like(per))
            return per.sum() / (counted.sum() * C)
        per = _reduce(per, counted, cfg["reduction"], torch)
        return per[0] if xt.ndim == 1 and cfg["reduction"] == "none" else per
    return _run(input, body, grad_output)


def sigmoid_focal(loss, input, target, mask=None, grad_output=None):
    """torchvision's sigmoid_focal_loss (1 - p_t, alpha_t, BCE with logits), smp's
    normalized and reduced_threshold, and one-vs-rest class indices."""
    torch = _torch()
    F = torch.nn.functional
    cfg = loss.config
    x_shape = np.shape(input)
    t = np.asarray(target)
    index = t.shape != x_shape

    if not index and cfg["_mean_over"] == "positions":
        raise ValueError("target must be class indices: the mean is over positions")

    def body(x):
        pos = None
        if index:
            ti = _index(t, torch)
            C = x.shape[1]
            pos = ti != cfg["ignore_index"]
            if mask is not None:
                pos &= _bool(mask, torch)
            classes = torch.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))
            y = (ti.unsqueeze(1) == classes).to(x.dtype)
            counted = pos.unsqueeze(1).expand(x.shape)
        else:
            y = _tensor(t, x, torch)
            counted = torch.ones(x.shape, dtype=torch.bool) if mask is None else \
                _bool(mask, torch).expand(x.shape)
        p, q = torch.sigmoid(x), torch.sigmoid(-x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + q * (1 - y)
        r = p * (1 - y) + q * y                    # 1 - p_t, without the cancellation
        gamma, thr = cfg["gamma"], cfg["reduced_threshold"]
        if thr is None:
            ft = _spow(r, gamma, torch)
        else:
            ft = torch.where(p_t < thr, torch.ones_like(r), _spow(r / thr, gamma, torch))
        per = ft * ce
        alpha = cfg["alpha"]
        if alpha >= 0:
            per = (alpha * y + (1 - alpha) * (1 - y)) * per
        if cfg["normalized"]:
            per = per / torch.where(counted, ft, torch.zeros_like(ft)).sum().clamp_min(1e-6)
        if cfg["reduction"] == "mean":
            per = torch.where(counted, per, torch.zeros_like(per))
            return per.sum() / (pos.sum() if cfg["_mean_over"] == "positions" else
                                counted.sum())
        return _reduce(per, counted, cfg["reduction"], torch)
    return _run(input, body, grad_output)


def dice_family(loss, input, target, mask=None, grad_output=None):
    """Dice, Jaccard, Tversky, generalized Dice from torch ops, every option of their spec:
    one-hot targets built explicitly, statistics by torch.sum, autograd through all."""
    torch = _torch()
    from ..dice import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss
    family = {DiceLoss: "dice", JaccardLoss: "jaccard", TverskyLoss: "tversky",
              GeneralizedDiceLoss: "generalized"}[type(loss)]
    cfg = loss.config
    t = np.asarray(target)
    in_shape = np.shape(input)
    mode = cfg["mode"]
    if cfg.get("_target_channel") and t.dtype.kind in "iu" and t.ndim == len(in_shape) >= 2 \
            and t.shape[1] == 1 and in_shape[1] > 1:
        t = t[:, 0]                  # MONAI's (N, 1, ...) class indices
        if mode != "multiclass":     # the sigmoid modes take it one-hot, ignored pixels out
            C = in_shape[1]
            hot = (t[:, None] == np.arange(C).reshape((1, C) + (1,) * (t.ndim - 1))) * 1.0
            ii = cfg["ignore_index"]
            t = hot if ii is None else np.where((t == ii)[:, None], float(ii), hot)

    def body(xt):
        x, tt = xt, t
        if mode == "binary":
            if x.ndim >= 2 and x.shape[1] == 1:
                if tt.shape == in_shape[:1] + in_shape[2:]:
                    tt = tt[:, None]
            else:
                x, tt = x[:, None], tt[:, None]
        C = x.shape[1]
        pos = (x.shape[0],) + tuple(x.shape[2:])
        pixel = torch.ones(pos, dtype=torch.bool) if mask is None else \
            _bool(mask, torch).reshape(pos)
        ii = cfg["ignore_index"]
        if mode == "multiclass" and tt.dtype.kind in "iu" and tt.shape == pos:
            ti = _index(tt, torch)
            if ii is not None:
                pixel = pixel & (ti != ii)
            y = torch.nn.functional.one_hot(torch.where(pixel, ti, 0), C) \
                .movedim(-1, 1).to(x.dtype)
            keep = pixel.unsqueeze(1).expand(x.shape)
        else:
            y = _tensor(tt, x, torch)
            keep = pixel.unsqueeze(1).expand(x.shape)
            if ii is not None:      # element by element
                keep = keep & _bool(np.asarray(tt) != ii, torch)
        if cfg["from_logits"]:
            p = torch.softmax(x, 1) if mode == "multiclass" else torch.sigmoid(x)
        else:
            p = x
        zero = torch.zeros_like(p)
        p = torch.where(keep, p, zero)
        y = torch.where(keep, y, zero)
        k = 2 if cfg["squared"] else 1
        dims = tuple(range(2, x.ndim)) if cfg["per_image"] else (0,) + tuple(range(2, x.ndim))
        def total(a):      # torch's sum over dims () would sum over every dim
            return (a.sum(dims) if dims else a).reshape(-1, C)
        I, P, T = total(p * y), total(p ** k), total(y ** k)
        sm = cfg["smooth"]
        sd = sm if cfg["smooth_dr"] is None else cfg["smooth_dr"]
        if family == "generalized":
            return _generalized(cfg, I, P, T, sm, sd, torch)
        if family == "dice":
            num, den = cfg["_factor"] * I + sm, P + T + sd
        elif family == "jaccard":
            g = 2.0 if cfg["_doubled"] else 1.0
            num, den = g * I + sm, g * (P + T - I) + sd
        else:
            num = I + sm
            den = I + cfg["alpha"] * (P - I) + cfg["beta"] * (T - I) + sd
        score = num / den.clamp_min(cfg["eps"])
        L = -torch.log(score.clamp_min(cfg["eps"])) if cfg["log_loss"] else 1 - score
        gamma = cfg.get("gamma", 1.0)
        if family == "tversky" and gamma != 1.0 and not cfg["_gamma_after_mean"]:
            L = _spow(L, gamma, torch)
        used = torch.ones(L.shape, dtype=torch.bool)
        scored = cfg["classes"] if cfg["classes"] is not None else \
            (tuple(c for c in range(C) if c != cfg["_skip_class"])
             if cfg.get("_skip_class") is not None and C > 1 else None)
        order = list(range(C)) if scored is None else list(scored)
        if scored is not None:
            if max(order) >= C:
                raise ValueError(f"classes must lie in [0, {C}), got {order}")
            sel = torch.zeros(C, dtype=torch.bool)
            sel[order] = True
            used = used & sel
        if cfg["absent"] == "zero":
            L = torch.where(T == 0, torch.zeros_like(L), L)
        elif cfg["absent"] == "skip":
            used = used & (T != 0)
        w = torch.ones(C, dtype=x.dtype) if cfg["weight"] is None else \
            _tensor(cfg["weight"], x, torch)
        if cfg["reduction"] == "none":
            out = torch.where(used, w * L, torch.full_like(L, float("nan")))[:, order]
            diff = torch.where(used, w * L, torch.zeros_like(L))[:, order]
            if mode == "binary":
                out, diff = out[:, 0], diff[:, 0]
            return (out, diff) if cfg["per_image"] else (out[0], diff[0])
        terms = torch.where(used, w * L, torch.zeros_like(L))
        total = terms.sum()
        if cfg["reduction"] == "mean":
            wu = torch.where(used, w, torch.zeros_like(w))
            norm = {"sum": wu.sum(), "count": used.sum(), "all": used.numel()}[
                cfg.get("_weight_mean", "sum")]
            total = total / norm
        if family == "tversky" and cfg["_gamma_after_mean"] and gamma != 1.0:
            total = _spow(total, gamma, torch)
        return total

    def monai_shaped(xt):
        # MONAI's reduction "none" shape: padded with ones to the input's rank (less the
        # pooled batch axis)
        out = body(xt)
        if cfg["reduction"] != "none" or not cfg.get("_keep_spatial"):
            return out
        pooled = 0 if cfg["per_image"] else 1
        pad = lambda a: a.reshape(tuple(a.shape) + (1,) * (len(in_shape) - a.ndim - pooled))
        return tuple(pad(a) for a in out) if isinstance(out, tuple) else pad(out)
    return _run(input, monai_shaped, grad_output)


def _generalized(cfg, I, P, T, sm, sd, torch):
    C = I.shape[1]
    sel = torch.ones(C, dtype=torch.bool)
    scored = cfg["classes"] if cfg["classes"] is not None else \
        (tuple(c for c in range(C) if c != cfg["_skip_class"])
         if cfg.get("_skip_class") is not None and C > 1 else None)
    if scored is not None:
        if max(scored) >= C:
            raise ValueError(f"classes must lie in [0, {C}), got {list(scored)}")
        sel = torch.zeros(C, dtype=torch.bool)
        sel[list(scored)] = True
    w = {"square": 1 / (T * T), "simple": 1 / T, "uniform": torch.ones_like(T)}[
        cfg["weighting"]]
    w = torch.where(sel, w, torch.zeros_like(w))
    inf = torch.isinf(w)
    finite = torch.where(inf, torch.zeros_like(w), w)
    w = torch.where(inf, finite.max(dim=1, keepdim=True)[0].expand_as(w), w)
    if cfg["weight"] is not None:
        w = w * _tensor(cfg["weight"], I, torch)
    L = 1 - (2 * (w * I).sum(1) + sm) / ((w * (P + T)).sum(1) + sd).clamp_min(cfg["eps"])
    if cfg["reduction"] == "none":
        return L if cfg["per_image"] else L[0]
    return L.sum() if cfg["reduction"] == "sum" else L.mean()
