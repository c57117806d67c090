"""float64 references for DiceLoss, JaccardLoss, TverskyLoss and GeneralizedDiceLoss, from
docs/semantics.md ("Dice family", its parameter table), docs/presets.md and dice.py's module
docstring.

Per (sample when per_image, else the pooled batch; class), over counted elements:
I = sum p y, P = sum p^k, T = sum y^k (k = 2 with squared), p the mode's activation of x
(softmax over classes for multiclass, sigmoid otherwise; x itself when from_logits=False),
y the target (one-hot for class indices).  A pixel counts when its mask is True and, for
class indices and binary mode, its target is not ignore_index; multilabel (and any dense
target) ignores element by element: p and y are 0 where y == ignore_index.

Scores, each n / max(d, eps) (smooth_dr defaults to smooth):
    Dice      n = f I + smooth         d = P + T + smooth_dr         f = _factor (2)
    Jaccard   n = I + smooth           d = P + T - I + smooth_dr
              _doubled (MONAI): n = 2 I + smooth, d = 2 (P + T - I) + smooth_dr
    Tversky   n = I + smooth           d = I + alpha (P - I) + beta (T - I) + smooth_dr
Class loss: 1 - s, or -log(max(s, eps)) with log_loss; Tversky raises max(., 0) to gamma
(per class, or the reduced value with _gamma_after_mean).  absent (T == 0): keep, zero
(still counted), skip (left out).  classes: only those are scored.  "mean" divides the weighted sum of class
losses by the sum of the weights used (_weight_mean "sum"), their count ("count") or the
number of all (sample,) class entries ("all"), NaN with a zero gradient when no class is
scored; "none" gives w * loss, NaN where not used.

Generalized Dice per row: 1 - (2 sum_c w_c I_c + smooth) / max(sum_c w_c (P_c + T_c) +
smooth_dr, eps), w_c = weight_c / T_c^2 ("square"), / T_c ("simple"), 1 ("uniform"), an
infinite w_c replaced by the row's largest finite one (0 when there is none); "mean" over
rows.

Gradient: dL/dI, dL/dP per (row, class) by the chain rule through the formulas above, then
dL/dp = dL/dI y + dL/dP k p^(k-1) at counted elements, then through the activation
(softmax: p_j (g_j - sum_c p_c g_c); sigmoid: g p (1 - p)).
"""
import numpy as np

from ._common import check_class_indices, f64, grad_output_for, is_index_target, sigmoid


def _prepare(cfg, input, target, mask):
    """p, y (float64, the input's shape with a class axis), keep (counted elements), the
    activation's kind and how to give the gradient back the input's shape."""
    x = f64(input)
    t = np.asarray(target)
    mode = cfg["mode"]
    squeeze = False
    if cfg.get("_target_channel") and is_index_target(t) and t.ndim == x.ndim >= 2 and \
            t.shape[1] == 1 and x.shape[1] > 1:
        t = t[:, 0]                  # MONAI's (N, 1, ...) class indices
        if mode != "multiclass":     # the sigmoid modes take it one-hot, ignored pixels out
            C = x.shape[1]
            hot = (t[:, None] == np.arange(C).reshape((1, C) + (1,) * (t.ndim - 1))) * 1.0
            ii = cfg["ignore_index"]
            t = hot if ii is None else np.where((t == ii)[:, None], float(ii), hot)
    if mode == "binary":
        if x.ndim >= 2 and x.shape[1] == 1:
            if t.shape == x.shape[:1] + x.shape[2:]:
                t = t[:, None]
        elif t.shape == x.shape and x.ndim >= 1:
            x, t, squeeze = x[:, None], t[:, None], True
        else:
            raise ValueError(f"binary mode takes input (N, 1, ...) or (N, ...) and a target "
                             f"of its shape, got {np.shape(input)} and {np.shape(target)}")
    if x.ndim < 2 or x.shape[1] == 0:
        raise ValueError(f"input must be (N, C, d1, ...), got shape {np.shape(input)}")
    C = x.shape[1]
    pos = (x.shape[0],) + x.shape[2:]
    pixel = np.ones(pos, bool) if mask is None else np.asarray(mask, bool).reshape(pos)
    ii = cfg["ignore_index"]
    classes = np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))
    if mode == "multiclass" and is_index_target(t) and t.shape == pos:
        ti = t.astype(np.int64)
        if ii is not None:
            pixel = pixel & (ti != ii)
        check_class_indices(ti, pixel, C, ii)
        y = (np.where(pixel, ti, 0)[:, None] == classes).astype(np.float64)
        keep = np.broadcast_to(pixel[:, None], x.shape)
    else:
        if t.shape != x.shape:
            raise ValueError(f"{mode} mode needs a target of the input's shape {x.shape}, got "
                             f"{np.shape(target)}")
        y = f64(t)
        keep = np.broadcast_to(pixel[:, None], x.shape)
        if ii is not None:
            keep = keep & (t != ii)
    act = None
    if cfg["from_logits"]:
        act = "softmax" if mode == "multiclass" else "sigmoid"
    if act == "softmax":
        with np.errstate(invalid="ignore", over="ignore"):
            m = np.max(x, axis=1, keepdims=True)
            e = np.exp(x - np.where(np.isfinite(m), m, 0.0))
            p = e / np.sum(e, axis=1, keepdims=True)
    elif act == "sigmoid":
        p = sigmoid(x)
    else:
        p = x
    return dict(p=p, x=x, y=np.where(keep, y, 0.0), keep=keep, act=act, squeeze=squeeze,
                shape=np.shape(input))


def _statistics(d, cfg):
    k = 2 if cfg["squared"] else 1
    pk = np.where(d["keep"], d["p"], 0.0)
    y = d["y"]
    axes = tuple(range(2, pk.ndim)) if cfg["per_image"] else (0,) + tuple(range(2, pk.ndim))
    I = np.sum(pk * y, axis=axes).reshape(-1, pk.shape[1])
    P = np.sum(pk ** k, axis=axes).reshape(-1, pk.shape[1])
    T = np.sum(y ** k, axis=axes).reshape(-1, pk.shape[1])
    return I, P, T, k


def _score(family, cfg, I, P, T):
    """score s and ds/dI, ds/dP per (row, class)."""
    sm = cfg["smooth"]
    sd = sm if cfg["smooth_dr"] is None else cfg["smooth_dr"]
    if family == "dice":
        f = cfg["_factor"]
        n, dn = f * I + sm, f
        d, dd_dI, dd_dP = P + T + sd, 0.0, 1.0
    elif family == "jaccard":
        g = 2.0 if cfg["_doubled"] else 1.0
        n, dn = g * I + sm, g
        d, dd_dI, dd_dP = g * (P + T - I) + sd, -g, g
    else:
        al, be = cfg["alpha"], cfg["beta"]
        n, dn = I + sm, 1.0
        d, dd_dI, dd_dP = I + al * (P - I) + be * (T - I) + sd, 1.0 - al - be, al
    eps = cfg["eps"]
    live = d >= eps                        # below eps the clamp holds d at eps
    dc = np.maximum(d, eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = n / dc
        ds_dI = (dn * dc - n * np.where(live, dd_dI, 0.0)) / dc ** 2
        ds_dP = -n * np.where(live, dd_dP, 0.0) / dc ** 2
    return s, ds_dI, ds_dP


def _power(base, gamma):
    """base^gamma and its derivative; the derivative is taken as 0 where base is 0 (its limit
    from above for gamma > 1, the same convention as focal loss at p_t = 1 for gamma < 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return base ** gamma, np.where(base != 0, gamma * base ** (gamma - 1), 0.0)


def _class_losses(family, cfg, I, P, T):
    s, ds_dI, ds_dP = _score(family, cfg, I, P, T)
    eps = cfg["eps"]
    with np.errstate(divide="ignore", invalid="ignore"):
        if cfg["log_loss"]:
            L = -np.log(np.maximum(s, eps))
            dL_ds = np.where(s >= eps, -1.0 / s, 0.0)
        else:
            L, dL_ds = 1.0 - s, -np.ones_like(s)
        gamma = cfg.get("gamma", 1.0)
        if family == "tversky" and gamma != 1.0 and not cfg["_gamma_after_mean"]:
            # the documented max(1 - s, 0)^gamma: s > 1 (smooth > smooth_dr, squared sums
            # with alpha + beta < 1) has no real fractional power of 1 - s
            L, dpow = _power(np.maximum(L, 0.0), gamma)
            dpow = np.where(L > 0, dpow, 0.0)
            dL_ds = dL_ds * dpow
    return L, dL_ds * ds_dI, dL_ds * ds_dP


def _scored(cfg, C):
    """The scored classes: `classes`; every class but `_skip_class` (MONAI's
    include_background=False, the seed's ignore_index; every class when there is one);
    None: all."""
    if cfg["classes"] is not None:
        if max(cfg["classes"]) >= C:
            raise ValueError(f"classes must lie in [0, {C}), got {list(cfg['classes'])}")
        return list(cfg["classes"])
    if cfg.get("_skip_class") is not None and C > 1:
        return [c for c in range(C) if c != cfg["_skip_class"]]
    return None


def _reduce_classes(family, cfg, L, dL_dI, dL_dP, T, grad_output):
    rows, C = L.shape
    used = np.ones((rows, C), bool)
    order = list(range(C))
    scored = _scored(cfg, C)
    if scored is not None:
        order = scored
        used &= np.isin(np.arange(C), order)
    absent = T == 0
    if cfg["absent"] == "zero":
        L = np.where(absent, 0.0, L)
        dL_dI = np.where(absent, 0.0, dL_dI)
        dL_dP = np.where(absent, 0.0, dL_dP)
    elif cfg["absent"] == "skip":
        used &= ~absent
    w = np.ones(C) if cfg["weight"] is None else f64(cfg["weight"])
    if w.shape != (C,):
        raise ValueError(f"weight must have one value per class (C={C}), got length "
                         f"{w.shape[0]}")
    reduction = cfg["reduction"]
    if reduction == "none":
        full = np.where(used, w * L, np.nan)
        value = full[:, order]
        if cfg["mode"] == "binary":
            value = value[:, 0]
        if not cfg["per_image"]:
            value = value[0]
        go = grad_output_for(grad_output, "none", np.shape(value))
        go = np.reshape(go, (rows if cfg["per_image"] else 1, -1))
        dv = np.zeros((rows, C))
        dv[:, order] = go * w[order]
        dv = np.where(used, dv, 0.0)
    else:
        wu = np.where(used, w, 0.0)
        total = np.sum(np.where(used, w * L, 0.0))     # a class left out adds nothing
        go = grad_output_for(grad_output, reduction, ())
        if reduction == "sum":
            value, dv = np.float64(total), go * wu
        else:
            norm = {"sum": wu.sum(), "count": used.sum(), "all": used.size}[
                cfg.get("_weight_mean", "sum")]
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.float64(total) / np.float64(norm)
                # nothing scored (every class skipped): NaN, and no class has a say
                dv = go * wu / np.float64(norm) if used.any() else np.zeros((rows, C))
        gamma = cfg.get("gamma", 1.0)
        if family == "tversky" and cfg["_gamma_after_mean"] and gamma != 1.0:
            value, dpow = _power(np.maximum(value, 0.0), gamma)
            dv = dv * dpow
    with np.errstate(invalid="ignore"):
        dI = np.where(dv != 0, dv * dL_dI, 0.0)
        dP = np.where(dv != 0, dv * dL_dP, 0.0)
    return value, dI, dP


def _generalized(cfg, I, P, T, grad_output):
    rows, C = I.shape
    sel = np.ones(C, bool)
    scored = _scored(cfg, C)
    if scored is not None:
        sel = np.isin(np.arange(C), scored)
    with np.errstate(divide="ignore"):
        w = {"square": 1.0 / T ** 2, "simple": 1.0 / T, "uniform": np.ones_like(T)}[
            cfg["weighting"]]
    w = np.where(sel, w, 0.0)
    finite = np.where(np.isinf(w), 0.0, w)
    w = np.where(np.isinf(w), finite.max(axis=1, keepdims=True), w)
    if cfg["weight"] is not None:
        w = w * f64(cfg["weight"])
    sm = cfg["smooth"]
    sd = sm if cfg["smooth_dr"] is None else cfg["smooth_dr"]
    n = 2.0 * np.sum(w * I, axis=1) + sm
    d = np.sum(w * (P + T), axis=1) + sd
    dc = np.maximum(d, cfg["eps"])
    live = d >= cfg["eps"]
    with np.errstate(divide="ignore", invalid="ignore"):
        L = 1.0 - n / dc
        dL_dI = -2.0 * w / dc[:, None]
        dL_dP = np.where(live, n / dc ** 2, 0.0)[:, None] * w
    reduction = cfg["reduction"]
    if reduction == "none":
        value = L if cfg["per_image"] else L[0]
        dv = np.reshape(grad_output_for(grad_output, "none", np.shape(value)), (rows,))
    else:
        go = grad_output_for(grad_output, reduction, ())
        total = np.sum(L)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.float64(total) if reduction == "sum" else np.float64(total) / rows
        dv = np.full(rows, go if reduction == "sum" else go / rows if rows else 0.0)
    with np.errstate(invalid="ignore"):
        return value, dv[:, None] * dL_dI, dv[:, None] * dL_dP


def _reduce(family, cfg, I, P, T, grad_output):
    if family == "generalized":
        return _generalized(cfg, I, P, T, grad_output)
    L, dL_dI, dL_dP = _class_losses(family, cfg, I, P, T)
    return _reduce_classes(family, cfg, L, dL_dI, dL_dP, T, grad_output)


def dice_family(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a DiceLoss, JaccardLoss, TverskyLoss or GeneralizedDiceLoss in
    float64."""
    from ..dice import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss
    family = {DiceLoss: "dice", JaccardLoss: "jaccard", TverskyLoss: "tversky",
              GeneralizedDiceLoss: "generalized"}[type(loss)]
    cfg = loss.config
    d = _prepare(cfg, input, target, mask)
    I, P, T, k = _statistics(d, cfg)
    monai_shape = None
    if cfg["reduction"] == "none" and cfg.get("_keep_spatial"):
        # MONAI's shape: the natural one padded with ones to the input's rank (less the
        # pooled batch axis); grad_output comes in that shape
        natural = np.shape(_reduce(family, cfg, I, P, T, None)[0])
        pooled = 0 if cfg["per_image"] else 1
        monai_shape = natural + (1,) * (np.ndim(input) - len(natural) - pooled)
        if grad_output is not None:
            grad_output = np.reshape(grad_output, natural)
    value, dI, dP = _reduce(family, cfg, I, P, T, grad_output)
    if monai_shape is not None:
        value = np.reshape(value, monai_shape)
    # back to elements: row n (per image) or the one pooled row, broadcast over space
    N = d["p"].shape[0]
    rows = np.arange(N) if cfg["per_image"] else np.zeros(N, int)
    extra = (1,) * (d["p"].ndim - 2)
    A = dI[rows].reshape(dI[rows].shape + extra)
    B = dP[rows].reshape(dP[rows].shape + extra)
    keep, p = d["keep"], d["p"]
    with np.errstate(invalid="ignore", over="ignore"):
        g = np.where(keep, A * d["y"] + B * (k * p ** (k - 1)), 0.0)
        if d["act"] == "softmax":
            pg = np.where(keep, p * g, 0.0)
            grad = pg - p * np.sum(pg, axis=1, keepdims=True)
            grad = np.where(np.any(keep, axis=1, keepdims=True), grad, 0.0)
        elif d["act"] == "sigmoid":
            grad = np.where(keep, g * p * sigmoid(-d["x"]), 0.0)
        else:
            grad = g
    return value, grad.reshape(d["shape"])
