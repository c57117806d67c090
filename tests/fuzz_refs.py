"""float64 references of every loss for the fuzzer, written from the README's formulas
(never from the code under test), with PyTorch tensors so that autograd gives the gradient
of sum(grad_output * loss) exactly.

Each reference takes the loss's configuration (`loss.config`), the values the call saw
(float64 / int64 NumPy arrays, whatever layout they came in), the mask and grad_output, and
returns (value, grad) as float64 NumPy arrays; or raises `Refused(argument)` when the README
says the call must fail (a ValueError / TypeError naming that argument).

Conventions the README states and the references follow:
- an ignored or masked position has no influence: its logits are replaced by 0 before the
  formula (so a NaN there does not leak into the gradient) and its terms are 0;
- a probability target 0 contributes 0 (0 log 0 = 0);
- "mean" with nothing counted is NaN with a zero gradient.
"""
import numpy as np
import torch

torch.set_default_dtype(torch.float64)
F = torch.nn.functional
_TORCH_FLOATS = {np.dtype(np.float16): torch.float16, np.dtype(np.float32): torch.float32,
                 np.dtype(np.float64): torch.float64}


class Refused(Exception):
    """The call must raise ValueError / TypeError naming `args[0]` (or one of args)."""


class Ambiguous(Exception):
    """The result depends on which side of a discontinuity a value rounds to in the compute
    dtype (sigmoid focal's reduced_threshold): no reference."""


def _t(a):
    return torch.tensor(np.array(a, dtype=np.float64, order="C"))


def _grad_of(value, X, go, retain=False):
    """d sum(go * value) / dX (zeros when value does not depend on X)."""
    if go is None:
        go = torch.ones_like(value)
    else:
        go = _t(go).expand_as(value) if np.ndim(go) else torch.full_like(value, float(go))
    total = (value * go).sum()
    if not total.requires_grad:
        return np.zeros(X.shape)
    (g,) = torch.autograd.grad(total, X, allow_unused=True, retain_graph=retain)
    return np.zeros(X.shape) if g is None else g.numpy()


def _safe_pow(base, gamma):
    """base ** gamma for base >= 0, 0 at base = 0 with a zero gradient there (the limit the
    README takes: focal's and Tversky's factor multiplies a term that is 0 there too)."""
    if gamma == 0:
        return torch.ones_like(base)          # IEEE pow(x, 0) = 1, NaN included
    pos = base > 0
    safe = torch.where(pos, base, torch.ones_like(base))
    return torch.where(pos, safe ** gamma, torch.where(torch.isnan(base), base,
                                                       torch.zeros_like(base)))


def _zero_times_log(k, lp):
    """k * lp, with 0 * (-inf) = 0 (the limit 0 log 0); a NaN lp stays NaN."""
    return torch.where(k != 0, k * lp, torch.where(torch.isnan(lp), lp, torch.zeros_like(lp)))


def _reduce(per, counted_weight, reduction):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / counted_weight


# -- cross-entropy, NLL, softmax focal ----------------------------------------------------

def index_scan(t, counted, C, ignore_index):
    """Refused('target') when a counted target lies outside [0, C) (ignore_index excepted)."""
    bad = counted & ((t < 0) | (t >= C))
    if ignore_index is not None:
        bad &= t != ignore_index
    if bad.any():
        raise Refused("target")


def softmax_family(kind, cfg, x, t, mask=None, go=None, want_grad=True):
    """kind: "ce" (cross_entropy), "nll" (nll_loss), "focal" (focal_loss).  x: (C,),
    (N, C) or (N, C, d...) float64; t: class indices (int64, N, d...) or, for "ce",
    probabilities of x's shape."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    if x.ndim == 0:
        raise Refused("input")
    unbatched = x.ndim == 1
    if unbatched:
        x = x[None]
        t = t[None]
        mask = None if mask is None else np.asarray(mask)[None]
        if go is not None and np.ndim(go):
            go = np.asarray(go)[None]
    C = x.shape[1]
    if C == 0:
        raise Refused("input")
    pos = (x.shape[0],) + x.shape[2:]
    ii = cfg["ignore_index"]
    reduction = cfg["reduction"]
    probs = t.dtype.kind == "f"
    weight = cfg.get("weight") if kind != "focal" else None
    if kind == "focal":
        alpha = cfg["alpha"]
        if alpha is not None:
            weight = np.broadcast_to(np.asarray(alpha, np.float64), (C,)) if np.ndim(alpha) == 0 \
                else np.asarray(alpha, np.float64)
    if weight is not None and len(weight) != C:
        raise Refused("weight", "alpha")
    w = torch.ones(C) if weight is None else _t(weight)
    wshape = (1, C) + (1,) * (x.ndim - 2)
    counted = np.ones(pos, bool) if mask is None else np.asarray(mask, bool).copy()
    if not probs:
        t64 = t.astype(np.int64)
        counted &= t64 != ii
        index_scan(t64, counted, C, ii)
    elif ii >= 0:
        raise Refused("ignore_index")
    X = torch.tensor(np.array(x, order="C"), requires_grad=True)
    cm = torch.as_tensor(np.array(counted, order="C"))
    xe = torch.where(cm.unsqueeze(1), X, torch.zeros_like(X))
    lp = xe if kind == "nll" else F.log_softmax(xe, dim=1)
    if probs:
        eps = cfg["label_smoothing"]
        q = (1 - eps) * _t(t) + eps / C
        k = w.view(wshape) * q
        k = torch.where(cm.unsqueeze(1), k, torch.zeros_like(k))
        per = -_zero_times_log(k, lp).sum(1)
        value = _reduce(per, cm.sum(), reduction)
    else:
        tc = torch.as_tensor(np.where(counted, t64, 0))
        lpt = lp.gather(1, tc.unsqueeze(1)).squeeze(1)
        wt = torch.where(cm, w[tc], torch.zeros(()))
        if kind == "focal":
            omp = -torch.special.expm1(lpt)
            per = torch.where(cm, -wt * _safe_pow(omp, cfg["gamma"]) * lpt, torch.zeros(()))
            value = _reduce(per, cm.sum(), reduction)
        else:
            nll = torch.where(cm, -wt * lpt, torch.zeros(()))
            eps = cfg.get("label_smoothing", 0.0)
            if eps > 0:
                smooth = -_zero_times_log(w.view(wshape).expand_as(lp), lp).sum(1)
                smooth = torch.where(cm, smooth, torch.zeros(()))
                per = (1 - eps) * nll + eps / C * smooth
            else:
                per = nll
            if reduction == "mean":
                # PyTorch's structure: NaN (0/0, or NaN + inf) when the weight total is 0
                D = wt.sum()
                value = (1 - eps) * nll.sum() / D + (eps / C * smooth.sum() / D if eps > 0 else 0)
            else:
                value = _reduce(per, None, reduction)
    if reduction == "none" and unbatched:
        value = value[0]
        if go is not None and np.ndim(go):
            go = np.asarray(go)[0]
    grad = _grad_of(value, X, go) if want_grad else None
    if reduction == "mean" and not counted.any() and grad is not None:
        grad = np.zeros_like(grad)
    if unbatched and grad is not None:
        grad = grad[0]
    return value.detach().numpy(), grad


def torch_builtin_softmax(kind, cfg, x, t, go=None):
    """PyTorch's own F.cross_entropy / F.nll_loss (no mask), value and gradient."""
    X = torch.tensor(np.array(x, np.float64, order="C"), requires_grad=True)
    t = np.asarray(t)
    T = _t(t) if t.dtype.kind == "f" else torch.as_tensor(np.array(t, np.int64, order="C"))
    w = None if cfg["weight"] is None else _t(cfg["weight"])
    if kind == "ce":
        v = F.cross_entropy(X, T, weight=w, ignore_index=cfg["ignore_index"],
                            reduction=cfg["reduction"], label_smoothing=cfg["label_smoothing"])
    else:
        v = F.nll_loss(X, T, weight=w, ignore_index=cfg["ignore_index"],
                       reduction=cfg["reduction"])
    return v.detach().numpy(), _grad_of(v, X, go)


# -- elementwise: BCE, BCE with logits, sigmoid focal --------------------------------------

def _broadcast_param(name, value, shape):
    if value is None:
        return None
    a = np.asarray(value, np.float64)
    try:
        b = np.broadcast_shapes(a.shape, shape)
    except ValueError:
        raise Refused(name) from None
    if b != tuple(shape):
        raise Refused(name)
    return np.broadcast_to(a, shape)


def bce(cfg, x, y, go=None):
    """BCE on probabilities: value (torch, float64) and the README's gradient
    w (p - y) / max(p (1 - p), 1e-12f)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if y.shape != x.shape:
        raise Refused("target")
    with np.errstate(invalid="ignore"):
        if np.any((x < 0) | (x > 1)):
            raise Refused("input")
        if np.any((y < 0) | (y > 1)):
            raise Refused("target")
    w = _broadcast_param("weight", cfg["weight"], x.shape)
    w = np.ones(x.shape) if w is None else w
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.maximum(np.log(x), -100.0)
        l1p = np.maximum(np.log1p(-x), -100.0)
        per = -w * (y * lp + (1 - y) * l1p)
        value = _np_reduce(per, cfg["reduction"])
        dl = w * (x - y) / np.maximum(x * (1 - x), float(np.float32(1e-12)))
    return value, _np_grad(dl, go, cfg["reduction"], x.size)


def bce_logits(cfg, x, y, go=None):
    """BCE with logits: l = w [(1 - y) x + lw softplus(-x)], gradient
    w (lw sigmoid(x) - pw y), lw = 1 + (pw - 1) y."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if y.shape != x.shape:
        raise Refused("target")
    w = _broadcast_param("weight", cfg["weight"], x.shape)
    pw = _broadcast_param("pos_weight", cfg["pos_weight"], x.shape)
    w = np.ones(x.shape) if w is None else w
    pw = np.ones(x.shape) if pw is None else pw
    with np.errstate(over="ignore", invalid="ignore"):
        lw = 1 + (pw - 1) * y
        sp = np.maximum(-x, 0) + np.log1p(np.exp(-np.abs(x)))
        readme = (1 - y) * x + lw * sp
        # the same without cancellation (y in [0, 1], pw >= 0): (1 - y) sp(x) + pw y sp(-x)
        stable = (1 - y) * np.logaddexp(0, x) + pw * y * np.logaddexp(0, -x)
        per = w * np.where(np.isfinite(x), stable, readme)
        value = _np_reduce(per, cfg["reduction"])
        # w (lw sigmoid(x) - pw y) = w ((1 - y) sigmoid(x) - pw y sigmoid(-x))
        dl = w * ((1 - y) * _sigmoid64(x) - pw * y * _sigmoid64(-x))
    return value, _np_grad(dl, go, cfg["reduction"], x.size)


def _np_reduce(per, reduction):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / np.float64(per.size)


def _np_grad(dl, go, reduction, n):
    if reduction == "none":
        g = np.ones(dl.shape) if go is None else np.asarray(go, np.float64)
    else:
        g = 1.0 if go is None else float(go)
        if reduction == "mean":
            g = g / n if n else 0.0
    with np.errstate(invalid="ignore"):
        return dl * g


def torch_builtin_bce(logits, cfg, x, y, go=None):
    X = torch.tensor(np.array(x, np.float64, order="C"), requires_grad=True)
    Y = _t(y)
    w = None if cfg["weight"] is None else _t(cfg["weight"])
    if logits:
        pw = None if cfg["pos_weight"] is None else _t(cfg["pos_weight"])
        v = F.binary_cross_entropy_with_logits(X, Y, weight=w, pos_weight=pw,
                                               reduction=cfg["reduction"])
    else:
        v = F.binary_cross_entropy(X, Y, weight=None if w is None else w.expand_as(X),
                                   reduction=cfg["reduction"])
    return v.detach().numpy(), _grad_of(v, X, go)


def sigmoid_focal(cfg, x, t, mask=None, go=None, compute=np.float64):
    """torchvision's sigmoid focal loss with smp's options.  t: dense (x's shape) or class
    indices (N, d...) compared one-vs-rest over axis 1.  compute: the dtype the kernel
    computes in, for reduced_threshold's p_t < thr test (raises Ambiguous when rounding
    decides it)."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    ii = cfg["ignore_index"]
    if t.shape == x.shape:
        y = t.astype(np.float64)
        counted = np.ones(x.shape, bool) if mask is None else \
            np.broadcast_to(np.asarray(mask, bool), x.shape)
    elif t.dtype.kind in "iu" and x.ndim >= 2 and t.shape == x.shape[:1] + x.shape[2:]:
        C = x.shape[1]
        if C == 0:
            raise Refused("input", "target")
        t64 = t.astype(np.int64)
        cpos = t64 != ii
        if mask is not None:
            cpos &= np.asarray(mask, bool)
        index_scan(t64, cpos, C, ii)
        classes = np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2))
        y = (t64[:, None] == classes).astype(np.float64)
        counted = np.broadcast_to(cpos[:, None], x.shape)
    else:
        raise Refused("target")
    X = torch.tensor(np.array(x, order="C"), requires_grad=True)
    cm = torch.as_tensor(np.array(counted, order="C"))
    xe = torch.where(cm, X, torch.zeros_like(X))
    Y = torch.where(cm, _t(y), torch.zeros(()))
    gamma, alpha, thr = cfg["gamma"], cfg["alpha"], cfg["reduced_threshold"]
    # (1 - y) x + softplus(-x) (the README's form) is (1 - y) softplus(x) + y softplus(-x):
    # no cancellation for y in [0, 1], smooth at 0 for autograd; at infinite x the README's
    # form decides which NaN / inf it is
    fin = torch.isfinite(xe)
    xs = torch.where(fin, xe, torch.zeros_like(xe))
    zero = torch.zeros(())
    stable = (1 - Y) * torch.logaddexp(zero, xs) + Y * torch.logaddexp(zero, -xs)
    readme = (1 - Y) * xe + torch.clamp(-xe, min=0) + torch.log1p(torch.exp(-xe.abs()))
    ce = torch.where(fin, stable, readme.detach())
    omp = Y * torch.sigmoid(-xe) + (1 - Y) * torch.sigmoid(xe)       # 1 - p_t
    if thr is not None:
        # p_t as the kernels form it in the compute dtype (sigmoid(x) and sigmoid(-x) from one
        # division), against p_t < thr decided exactly (1 - p_t > 1 - thr: 1 - p_t, not p_t,
        # holds the digits near p_t = 1, where float64's p_t rounds to 1 too)
        with np.errstate(all="ignore"):
            c = np.dtype(compute).type
            xc = x.astype(compute)
            e = np.exp(-np.abs(xc))
            inv = c(1) / (c(1) + e)
            s, sn = np.where(xc >= 0, inv, e * inv), np.where(xc >= 0, e * inv, inv)
            yc = y.astype(compute)
            pt_c = yc * s + (c(1) - yc) * sn
            below_exact = (y * _sigmoid64(-x) + (1 - y) * _sigmoid64(x)) > 1 - thr
        if np.any(counted & ((pt_c < thr) != below_exact)):
            raise Ambiguous("p_t < reduced_threshold depends on rounding")
    if thr is None:
        ft = _safe_pow(omp, gamma)
    else:
        below = omp > 1 - thr
        # the branch not taken gets a harmless argument: its gradient is 0, not 0 * inf
        ft = torch.where(below, torch.ones_like(omp),
                         _safe_pow(torch.where(below, torch.zeros_like(omp), omp) / thr, gamma))
    at = alpha * Y + (1 - alpha) * (1 - Y) if alpha >= 0 else torch.ones_like(Y)
    zero = torch.zeros(())
    per = torch.where(cm, at * ft * ce, zero)
    n = int(counted.sum())
    if cfg["normalized"]:
        norm = torch.where(cm, ft, zero).sum().clamp_min(1e-6)
        per = per / norm
    reduction = cfg["reduction"]
    if reduction == "none":
        value = per
    elif reduction == "sum":
        value = per.sum()
    else:
        value = per.sum() / n
    grad = _grad_of(value, X, go)
    if reduction == "mean" and n == 0:
        grad = np.zeros_like(grad)
    return value.detach().numpy(), grad


def _sigmoid64(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


# -- Dice family --------------------------------------------------------------------------

def dice_family(variant, cfg, x, t, mask=None, go=None, scale=False, p_dtype=None):
    """variant: "dice", "jaccard", "tversky", "generalized".  From the README's "Dice
    family": per (sample or pooled batch, class) I = sum p t, P = sum p^k, T = sum t^k over
    counted pixels, then the variant's score, loss, class average (Tversky: 1 - s at
    gamma = 1, else max(1 - s, 0)^gamma).  scale=True: also max |d value / d p| (p the
    activations), the size float32 rounding of the gradient is relative to.  p_dtype: the
    activations rounded to this NumPy float type (what an input of that type can hold:
    a sigmoid of -700 is 0 in float32), the statistics still in float64."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t)
    mode = cfg["mode"]
    ii = cfg["ignore_index"]
    xin_shape = x.shape
    if x.ndim == 0:
        raise Refused("input")
    if mode == "binary":
        if x.ndim >= 2 and x.shape[1] == 1:
            if t.shape == x.shape[:1] + x.shape[2:]:
                t = t[:, None]
            elif t.shape != x.shape:
                raise Refused("target", "input")
            xb = x
        elif t.shape == x.shape and x.ndim >= 1:
            xb, t = x[:, None], t[:, None]
        else:
            raise Refused("target", "input")
    else:
        xb = x
    if xb.ndim < 2:
        raise Refused("input")
    N, C = xb.shape[:2]
    if C == 0:
        raise Refused("input")
    pos = (N,) + xb.shape[2:]
    counted = np.ones(pos, bool) if mask is None else np.asarray(mask, bool).copy()
    if mask is not None and np.shape(mask) != pos:
        raise Refused("mask")
    index = mode == "multiclass" and t.dtype.kind in "iu" and t.shape == pos
    X = torch.tensor(np.array(xb, order="C"), requires_grad=True)
    elem = None
    if index:
        t64 = t.astype(np.int64)
        if ii is not None:
            counted &= t64 != ii
        index_scan(t64, counted, C, ii)
        classes = np.arange(C).reshape((1, C) + (1,) * (xb.ndim - 2))
        y = (np.where(counted, t64, -1)[:, None] == classes).astype(np.float64)
    else:
        if t.shape != xb.shape:
            raise Refused("target")
        if t.dtype.kind not in "fiub":
            raise Refused("target")
        if cfg.get("_hard_targets") and np.any((t != 0) & (t != 1) &
                                               ((t != ii) if ii is not None else True)):
            raise Refused("target")      # the smp preset: hard 0 / 1 dense targets only
        y = t.astype(np.float64)
        if ii is not None:
            ign = t == ii
            if mode == "binary" or C == 1:
                counted &= ~ign.reshape(pos)
            else:
                elem = ~ign          # elementwise: p and t are zeroed there
    cm = torch.as_tensor(np.array(counted, order="C")).unsqueeze(1)
    xe = torch.where(cm, X, torch.zeros_like(X))
    if cfg["from_logits"]:
        if mode == "multiclass":
            if elem is not None:
                keep = torch.as_tensor(np.array(elem, order="C"))
                xe = torch.where(keep, xe, torch.full_like(xe, -np.inf))
            p = F.softmax(xe, dim=1)
        else:
            p = torch.sigmoid(xe)
    else:
        p = xe
    if p_dtype is not None:
        p = p.to(_TORCH_FLOATS[np.dtype(p_dtype)]).to(torch.float64)
    Y = torch.where(cm, _t(y), torch.zeros(()))
    if elem is not None:
        E = torch.as_tensor(np.array(elem, order="C"))
        p = torch.where(E, p, torch.zeros(()))
        Y = torch.where(E, Y, torch.zeros(()))
    p = torch.where(cm, p, torch.zeros(()))
    k = 2 if cfg["squared"] else 1
    axes = tuple(range(2, xb.ndim))
    I = (p * Y).sum(axes) if axes else p * Y
    P = (p ** k).sum(axes) if axes else p ** k
    T = (Y ** k).sum(axes) if axes else Y ** k
    if not cfg["per_image"]:
        I, P, T = I.sum(0, keepdim=True), P.sum(0, keepdim=True), T.sum(0, keepdim=True)
    sums = (I, P)        # what the gradient's float32 terms are made of (scale=True)
    s_nr = cfg["smooth"]
    s_dr = s_nr if cfg["smooth_dr"] is None else cfg["smooth_dr"]
    eps = cfg["eps"]
    weight = cfg["weight"]
    wrong = ([] if weight is None or len(weight) == C else ["weight"]) + \
        ([] if cfg["classes"] is None or max(cfg["classes"]) < C else ["classes"])
    if wrong:
        raise Refused(*wrong)
    reduction = cfg["reduction"]
    if variant == "generalized":
        Td = T.detach()
        with np.errstate(divide="ignore"):
            wc = {"square": 1.0 / (Td * Td), "simple": 1.0 / Td,
                  "uniform": torch.ones_like(Td)}[cfg["weighting"]]
        if cfg["classes"] is not None:
            keep = torch.zeros(C, dtype=torch.bool)
            keep[list(cfg["classes"])] = True
            wc = torch.where(keep, wc, torch.zeros(()))
            I, P, T = (torch.where(keep, a, torch.zeros(())) for a in (I, P, T))
        inf = torch.isinf(wc)
        wc = torch.where(inf, torch.zeros(()), wc)
        wmax = wc.max(dim=1, keepdim=True).values if C else torch.zeros(wc.shape[0], 1)
        wc = torch.where(inf, wmax.expand_as(wc), wc)
        if weight is not None:
            wc = wc * _t(weight)
        num = 2 * (wc * I).sum(1) + s_nr
        den = torch.clamp((wc * (P + T)).sum(1) + s_dr, min=eps)
        loss = 1 - num / den
        if reduction == "none":
            value = loss if cfg["per_image"] else loss[0]
        elif reduction == "sum":
            value = loss.sum()
        else:
            value = loss.mean()
        return _dice_out(value, X, sums, go, xin_shape, scale)

    a, bP, bT, c = _dice_coefficients(variant, cfg)
    # which (sample,) class losses count: classes=, absent="skip" leave some out, "zero"
    # zeroes some; those get harmless stand-in statistics, so that no 0 * inf of theirs
    # (a 0/0 score, log 0) reaches the gradient through where()'s untaken branch
    used = torch.ones(I.shape, dtype=torch.bool)
    if cfg["classes"] is not None:
        sel = torch.zeros(C, dtype=torch.bool)
        sel[list(cfg["classes"])] = True
        used = used & sel
    absent = T.detach() == 0
    zeroed = absent if cfg.get("absent") == "zero" else torch.zeros_like(absent)
    if cfg.get("absent") == "skip":
        used = used & ~absent
    gamma = cfg.get("gamma", 1.0)
    after = cfg.get("_gamma_after_mean", False)
    if variant == "tversky" and not after and gamma != 1.0:
        # max(1 - s, 0)^gamma is a constant 0 (derivative 0, the README's limit) where
        # 1 - s <= 0: such a class is a zeroed one, whatever its s (inf with a 0 denominator)
        with torch.no_grad(), np.errstate(all="ignore"):
            s0 = (a * I + s_nr) / torch.clamp(bP * P + bT * T + c * I + s_dr, min=eps)
            l0 = -torch.log(torch.clamp(s0, min=eps)) if cfg["log_loss"] else 1 - s0
        zeroed = zeroed | (l0 <= 0)
    live = used & ~zeroed
    one = torch.ones(())
    num = torch.where(live, a * I + s_nr, one)
    den = torch.where(live, torch.clamp(bP * P + bT * T + c * I + s_dr, min=eps), one)
    score = num / den
    # dL/dI = dL/ds (a / den - num c / den^2), two terms that can cancel (alpha = beta = 0
    # leaves (s_dr - s_nr) / den^2): its rounding is relative to their size (scale=True)
    with torch.no_grad():
        terms_I = ((abs(a) + torch.abs(num * c) / den) / den).numpy()
    sums = ((score, terms_I), P)
    if cfg["log_loss"]:
        loss = -torch.log(torch.clamp(score, min=eps))
    else:
        loss = 1 - score
    if variant == "tversky" and not after and gamma != 1.0:
        loss = _safe_pow(torch.clamp(loss, min=0), gamma)
    loss = torch.where(zeroed, torch.zeros(()), loss)
    w = torch.ones(C) if weight is None else _t(weight)
    wu = torch.where(used, w.expand_as(loss), torch.zeros(()))
    if reduction == "none":
        cols = list(range(C)) if cfg["classes"] is None else list(cfg["classes"])
        value = torch.where(used, w * loss, torch.full_like(loss, np.nan))[:, cols]
        value = value if cfg["per_image"] else value[0]
        if mode == "binary":
            value = value[..., 0]
        gmask = torch.where(used, w * loss, torch.zeros(()))[:, cols]
        gmask = gmask if cfg["per_image"] else gmask[0]
        if mode == "binary":
            gmask = gmask[..., 0]
        return _dice_out(value, X, sums, go, xin_shape, scale, differentiate=gmask)
    total = torch.where(used, wu * loss, torch.zeros(())).sum()
    norm = {"sum": wu.sum(), "count": used.sum(), "all": used.numel()}[
        cfg.get("_weight_mean", "sum")]
    value = total if reduction == "sum" else total / norm
    if gamma != 1.0 and after:
        value = _safe_pow(torch.clamp(value, min=0), gamma)
    return _dice_out(value, X, sums, go, xin_shape, scale,
                     zero_grad=reduction == "mean" and float(norm) == 0)


def _dice_out(value, X, sums, go, shape, scale, differentiate=None, zero_grad=False):
    """(value, d sum(go value) / dX [, max |dL/dI| + max |dL/dP|]): the gradient is
    dL/dI t + dL/dP k p^(k-1) through the activation, terms that can cancel, so its float32
    rounding is relative to their size.  An entry of `sums` may be (tensor, factor): its
    term is max |dL/dtensor * factor| (dL/ds times the size of ds/dI's terms)."""
    v = value if differentiate is None else differentiate
    grad = _grad_of(v, X, go, retain=scale)
    if zero_grad:
        grad = np.zeros_like(grad)
    out = (value.detach().numpy(), grad.reshape(shape))
    if not scale:
        return out
    total = 0.0
    for s in sums:
        s, factor = s if isinstance(s, tuple) else (s, 1.0)
        g = _grad_of(v, s, go, retain=True) if s.requires_grad else np.zeros(s.shape)
        with np.errstate(invalid="ignore", over="ignore"):
            g = g * factor
        g = np.abs(g[np.isfinite(g)])
        total += float(g.max()) if g.size else 0.0
    return out + (total,)


def _dice_coefficients(variant, cfg):
    if variant == "dice":
        return cfg.get("_factor", 2.0), 1.0, 1.0, 0.0
    if variant == "jaccard":
        return (2.0, 2.0, 2.0, -2.0) if cfg.get("_doubled", False) else (1.0, 1.0, 1.0, -1.0)
    al, be = cfg["alpha"], cfg["beta"]
    return 1.0, al, be, 1.0 - al - be
