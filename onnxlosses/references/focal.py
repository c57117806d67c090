"""float64 references for FocalLoss (softmax) and SigmoidFocalLoss, from docs/semantics.md
("Focal losses") and the classes' docstrings.

Softmax focal, per counted position with lpt = log_softmax(x)_t, u = 1 - p_t = -expm1(lpt):
    l = -alpha_t u^gamma lpt
    dl/dlpt = alpha_t (gamma p_t u^(gamma-1) lpt - u^gamma)   (the first term 0 where u = 0)
    dl/dx_j = dl/dlpt (delta_tj - p_j);  "mean" divides by the number of counted positions
    (_mean_over "elements": that times C).  A number alpha is alpha_c for every class;
    _alpha0, where set, is class 0's (alpha None counting as 1 for the others).

Sigmoid focal (torchvision, smp's options), per counted element, p = sigmoid(x):
    p_t = p y + (1 - p)(1 - y),  r = 1 - p_t = p (1 - y) + (1 - p) y
    ce = (1 - y) x + softplus(-x),  dce/dx = p - y
    ft = r^gamma, or with reduced_threshold thr: (r / thr)^gamma, and 1 where p_t < thr
    dr/dx = p (1 - p)(1 - 2 y),  dft/dx = gamma ft' dr/dx  (0 where ft is constant)
    alpha_t = alpha y + (1 - alpha)(1 - y), 1 when alpha < 0
    l = alpha_t ft ce,  dl/dx = alpha_t (dft/dx ce + ft (p - y))
    normalized: every l divided by F = max(sum of ft over counted elements, 1e-6); the
    gradient of sum(g l) / F is g dl / F - sum(g l) dF / F^2 (dF = 0 where the clamp holds).
    "mean" divides by the number of counted elements (class indices: positions times C),
    or with _mean_over "positions" (class indices only) by the number of counted positions.
"""
import numpy as np

from ._common import (check_class_indices, f64, grad_output_for, is_index_target,
                      log_softmax, sigmoid, softplus_neg)


def _finish(per, dper, counted, denom, reduction, grad_output, loss_shape):
    """Value, and the per-element factor on dper (per and dper already 0 where not counted)."""
    go = grad_output_for(grad_output, reduction, loss_shape)
    if reduction == "none":
        return per, go
    if reduction == "sum":
        return np.float64(per.sum()), go
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.float64(per.sum()) / np.float64(denom)
    return value, (go / np.float64(denom) if counted.any() else 0.0)


def focal(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a FocalLoss in float64."""
    cfg = loss.config
    x = f64(input)
    t = np.asarray(target)
    if not is_index_target(t):
        raise TypeError(f"target must be uint8, int16, int32 or int64 class indices, got "
                        f"dtype {t.dtype}")
    unbatched = x.ndim == 1
    if unbatched:
        x, t = x[None], t[None]
        mask = None if mask is None else np.asarray(mask)[None]
    C = x.shape[1]
    alpha = cfg["alpha"]
    a = np.ones(C) if alpha is None else np.full(C, float(alpha)) \
        if np.ndim(alpha) == 0 else f64(alpha).copy()
    if a.shape != (C,):
        raise ValueError(f"alpha must have one value per class (C={C}), got length "
                         f"{a.shape[0]}")
    if cfg["_alpha0"] is not None:
        a[0] = cfg["_alpha0"]
    gamma = cfg["gamma"]
    ti = t.astype(np.int64)
    counted = ti != cfg["ignore_index"]
    if mask is not None:
        counted &= np.asarray(mask, bool)
    check_class_indices(ti, counted, C, cfg["ignore_index"])
    tc = np.where(counted, ti, 0)
    lp = log_softmax(x)
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.exp(lp)
    lpt = np.take_along_axis(lp, tc[:, None], axis=1)[:, 0]
    pt = np.exp(lpt)
    at = a[tc]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        u = -np.expm1(lpt)
        ug = u ** gamma
        per = -at * ug * lpt
        # u^(gamma-1) lpt -> 0 as u -> 0 (lpt ~ -u); gamma = 0 has no such term
        slope = np.where(u > 0, gamma * pt * u ** (gamma - 1) * lpt, 0.0) if gamma else 0.0
        dlpt = at * (slope - ug)
        onehot = tc[:, None] == np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))
        dper = dlpt[:, None] * (onehot - p)
    per = np.where(counted, per, 0.0)
    n = np.count_nonzero(counted) * (C if cfg["_mean_over"] == "elements" else 1)
    value, factor = _finish(per, dper, counted, n, cfg["reduction"],
                            grad_output, t.shape[1:] if unbatched else per.shape)
    if unbatched and cfg["reduction"] == "none":
        factor = factor[None]
    factor = np.expand_dims(factor, 1) if np.ndim(factor) else factor
    with np.errstate(invalid="ignore"):
        grad = np.where(counted[:, None], factor * dper, 0.0)
    if unbatched:
        value = value[0] if cfg["reduction"] == "none" else value
        grad = grad[0]
    return value, grad


def sigmoid_focal(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a SigmoidFocalLoss in float64, dense or class-index targets."""
    cfg = loss.config
    x = f64(input)
    t = np.asarray(target)
    positions = cfg["_mean_over"] == "positions"
    if t.shape == x.shape:
        if positions:
            raise ValueError("target must be class indices: the mean is over positions")
        y = f64(t)
        counted = np.ones(x.shape, bool) if mask is None else \
            np.broadcast_to(np.asarray(mask, bool), x.shape)
    elif is_index_target(t) and x.ndim >= 2 and t.shape == x.shape[:1] + x.shape[2:]:
        C = x.shape[1]
        ti = t.astype(np.int64)
        pos = ti != cfg["ignore_index"]
        if mask is not None:
            pos &= np.asarray(mask, bool)
        check_class_indices(ti, pos, C, cfg["ignore_index"])
        y = (ti[:, None] == np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))).astype(float)
        counted = np.broadcast_to(pos[:, None], x.shape)
    else:
        raise ValueError(f"target must have the input's shape {x.shape}, or be integer class "
                         f"indices of shape {x.shape[:1] + x.shape[2:]}; got {t.shape}")
    gamma, alpha, thr = cfg["gamma"], cfg["alpha"], cfg["reduced_threshold"]
    p, q = sigmoid(x), sigmoid(-x)                     # q = 1 - p, accurately
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r = p * (1 - y) + q * y
        p_t = p * y + q * (1 - y)
        ce = (1 - y) * x + softplus_neg(x)
        dr = p * q * (1 - 2 * y)
        if thr is None:
            ft = r ** gamma
            dft = np.where(r > 0, gamma * r ** (gamma - 1) * dr, 0.0) if gamma else 0.0 * r
        else:
            below = p_t < thr
            ft = np.where(below, 1.0, (r / thr) ** gamma)
            dft = np.where(below | (r <= 0), 0.0, gamma * (r / thr) ** (gamma - 1) * dr / thr) \
                if gamma else 0.0 * r
        at = np.ones_like(y) if alpha < 0 else alpha * y + (1 - alpha) * (1 - y)
        per = at * ft * ce
        dper = at * (dft * ce + ft * (p - y))
    per = np.where(counted, per, 0.0)
    dper = np.where(counted, dper, 0.0)
    reduction = cfg["reduction"]
    n = np.count_nonzero(pos) if positions else np.count_nonzero(counted)
    if cfg["normalized"]:
        F_raw = float(np.sum(np.where(counted, ft, 0.0)))
        F = max(F_raw, 1e-6)
        dF = np.where(counted, dft, 0.0) if F_raw > 1e-6 else 0.0
        go = grad_output_for(grad_output, reduction, x.shape)
        scale = 1.0 if reduction != "mean" else (1.0 / n if n else 0.0)
        if reduction == "none":
            value = per / F
            s = float(np.sum(go * per))
        else:
            value = np.float64(per.sum() / F)
            if reduction == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    value = value / np.float64(n)
            s = go * float(per.sum())
        with np.errstate(invalid="ignore"):
            grad = scale * (go * dper / F - s * dF / F ** 2)
        return value, np.where(counted, grad, 0.0)
    value, factor = _finish(per, dper, counted, n, reduction, grad_output, x.shape)
    with np.errstate(invalid="ignore"):
        return value, np.where(counted, factor * dper, 0.0)
