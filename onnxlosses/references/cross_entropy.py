"""float64 references for CrossEntropyLoss and NLLLoss, from docs/semantics.md
("Cross-entropy and NLL"):

    lp = log_softmax(x) over the class axis (NLL: lp = x)
    index target t:   l = (1 - eps) w_t (-lp_t) + (eps / C) sum_c w_c (-lp_c)
    probabilities q:  l = -sum_c w_c q'_c lp_c,   q' = (1 - eps) q + eps / C
    mean: index targets divide by sum w_t over counted positions, probabilities by the
    number of counted positions; ignored / masked positions give 0 (and no gradient).

Gradients, with p = softmax(x), d lp_c / d x_j = delta_cj - p_j:
    index:          (1 - eps) w_t (p_j - delta_tj) + (eps / C) (W p_j - w_j),  W = sum_c w_c
    probabilities:  K p_j - k_j,  k_c = w_c q'_c,  K = sum_c k_c
    NLL:            -w_t delta_tj
"""
import numpy as np

from ._common import check_class_indices, f64, grad_output_for, is_index_target, log_softmax


def cross_entropy(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a CrossEntropyLoss or NLLLoss in float64; grad is
    d sum(grad_output * loss) / d input."""
    return _cross_entropy(loss.config, input, target, mask, grad_output,
                          log_probs=loss.spec.input == "log_probabilities")


def _cross_entropy(cfg, input, target, mask, grad_output, log_probs):
    x = f64(input)
    t = np.asarray(target)
    unbatched = x.ndim == 1
    if unbatched:
        x, t = x[None], t[None]
        mask = None if mask is None else np.asarray(mask)[None]
    C = x.shape[1]
    w = np.ones(C) if cfg["weight"] is None else f64(cfg["weight"])
    if w.shape != (C,):
        raise ValueError(f"weight must have one value per class (C={C}), got length "
                         f"{w.shape[0]}")
    eps = cfg.get("label_smoothing", 0.0)
    reduction = cfg["reduction"]
    wb = w.reshape((1, C) + (1,) * (x.ndim - 2))
    lp = x if log_probs else log_softmax(x)
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.exp(lp)
    pos_shape = (x.shape[0],) + x.shape[2:]
    counted = np.ones(pos_shape, bool) if mask is None else np.asarray(mask, bool)

    if is_index_target(t):
        ti = t.astype(np.int64)
        counted = counted & (ti != cfg["ignore_index"])
        check_class_indices(ti, counted, C, cfg["ignore_index"])
        tc = np.where(counted, ti, 0)
        onehot = (tc[:, None] == np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2)))
        wt = w[tc]
        lpt = np.take_along_axis(lp, tc[:, None], axis=1)[:, 0]
        with np.errstate(invalid="ignore"):
            per = -wt * lpt
            if log_probs:
                dper = -wt[:, None] * onehot
            elif eps == 0:
                dper = wt[:, None] * (p - onehot)
            else:
                # a zero weight on a class whose log-probability is -inf adds nothing
                smooth = -np.sum(np.where(wb != 0, wb * lp, 0.0), axis=1)
                per = (1 - eps) * per + eps / C * smooth
                dper = (1 - eps) * wt[:, None] * (p - onehot) + eps / C * (w.sum() * p - wb)
        denom = np.sum(np.where(counted, wt, 0.0))
    else:
        if log_probs:
            raise TypeError(f"NLL targets must be class indices, got dtype {t.dtype}")
        if cfg["ignore_index"] >= 0:
            raise ValueError("ignore_index is not supported with class-probability targets, "
                             f"got ignore_index={cfg['ignore_index']}; use mask")
        q = (1 - eps) * f64(t) + eps / C
        k = wb * q
        with np.errstate(invalid="ignore"):
            per = -np.sum(np.where(k != 0, k * lp, 0.0), axis=1)   # 0 log 0 = 0
            dper = np.sum(k, axis=1, keepdims=True) * p - k
        denom = np.count_nonzero(counted)
    per = np.where(counted, per, 0.0)
    dper = np.where(counted[:, None], dper, 0.0)
    go = grad_output_for(grad_output, reduction, t.shape[1:] if unbatched else per.shape)
    if unbatched and reduction == "none":
        go = go[None]
    if reduction == "none":
        value, factor = per, go
    elif reduction == "sum":
        value, factor = np.float64(per.sum()), go
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.float64(per.sum()) / np.float64(denom)
            factor = go / np.float64(denom)
        if not counted.any():            # nothing counted: NaN, and no position has a say
            factor = 0.0
    with np.errstate(invalid="ignore"):
        grad = np.where(counted[:, None], np.expand_dims(np.asarray(factor), 1) * dper
                        if reduction == "none" else factor * dper, 0.0)
    if unbatched:
        value = value[0] if reduction == "none" else value
        grad = grad[0]
    return value, grad
