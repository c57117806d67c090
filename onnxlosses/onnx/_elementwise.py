"""BCE, BCE with logits and sigmoid focal as ONNX graphs, from elementary ops.

Stable forms only: softplus(-x) = Relu(-x) + Log(1 + Exp(-Abs(x))) (no Softplus: it has no
float64 kernel on CPU), clamps and masks with Where so NaN propagates and -inf * 0 cannot
appear, and the mean's denominator computed explicitly.  onnx has no Log1p: Log(1 + e)
differs from log1p(e) by at most e itself, below the float tolerances.
"""
import numpy as np


def _reduce(b, per, count, reduction):
    if reduction == "none":
        return per
    total = b.total(per, name="loss_sum")
    return b.op("Div", total, count, name="loss_mean") if reduction == "mean" else total


def _count(b, per, counted):
    if counted is None:
        return b.cast(b.op("Size", per, name="size"), b.compute_dtype, name="count")
    return b.total(b.cast(counted, b.compute_dtype, name="counted_f"), name="count")


def _grad_scale(b, count, reduction):
    one = b.const(1.0, "one")
    return b.op("Div", one, count, name="inv_count") if reduction == "mean" else one


def _softplus_neg(b, x):
    """softplus(-x) = -log sigmoid(x), and exp(-|x|) for the sigmoid."""
    e = b.op("Exp", b.op("Neg", b.op("Abs", x, name="abs_x"), name="neg_abs_x"), name="exp_neg_abs")
    l1 = b.op("Log", b.op("Add", b.const(1.0, "one"), e, name="one_plus_e"), name="log1p_e")
    return b.op("Add", b.op("Relu", b.op("Neg", x, name="neg_x"), name="relu_neg_x"), l1,
                name="softplus_neg_x")


def _weighted(b, per, w, reduction, grad, dl):
    """Shared tail of the BCE emitters: per-element weights, the reduction and, with grad,
    the weighted derivative dl() of the unweighted per-element loss times the reduction's
    scale.  Returns (loss, grad or None)."""
    if w:
        per = b.op("Mul", per, w, name="weighted")
    count = _count(b, per, None)
    loss = _reduce(b, per, count, reduction)
    if not grad:
        return loss, None
    g = dl()
    if w:
        g = b.op("Mul", g, w, name="w_dl")
    return loss, b.op("Mul", g, _grad_scale(b, count, reduction), name="grad_scaled")


def _param(b, value, name):
    return None if value is None else b.const(value, name)


def _check_weights(config, rank):
    for name in ("weight", "pos_weight"):
        if config.get(name) is not None and config[name].ndim > rank:
            raise ValueError(f"{name} of shape {config[name].shape} has more dimensions than "
                             f"the input's rank {rank}")


def emit_bce(b, loss, io):
    """-w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]"""
    config, x, y, reduction, grad = loss.config, io.x, io.target, io.reduction, io.grad
    _check_weights(config, io.rank)
    one, floor = b.const(1.0, "one"), b.const(-100.0, "log_floor")
    w = _param(b, config["weight"], "weight")

    def clamped(v, name):  # max(v, -100) that keeps NaN
        return b.op("Where", b.op("Less", v, floor, name=f"{name}_low"), floor, v, name=name)

    lp = clamped(b.op("Log", x, name="log_p"), "log_p_clamped")
    one_minus = b.op("Sub", one, x, name="one_minus_p")
    l1p = clamped(b.op("Log", one_minus, name="log_1mp"), "log_1mp_clamped")
    per = b.op("Sub", b.op("Mul", b.op("Sub", y, one, name="y_minus_1"), l1p, name="neg_term"),
               b.op("Mul", y, lp, name="pos_term"), name="bce")

    def dl():   # (p - y) / max(p (1 - p), 1e-12f): PyTorch's epsilon is the float 1e-12
        eps = b.const(np.float32(1e-12), "eps")
        den = b.op("Mul", one_minus, x, name="p_1mp")
        den = b.op("Where", b.op("Less", den, eps, name="den_low"), eps, den, name="den")
        return b.op("Div", b.op("Sub", x, y, name="p_minus_y"), den, name="dl")

    return _weighted(b, per, w, reduction, grad, dl)


def emit_bce_logits(b, loss, io):
    """w [(1 - y) x + lw softplus(-x)],  lw = 1 + (pw - 1) y"""
    config, x, y, reduction, grad = loss.config, io.x, io.target, io.reduction, io.grad
    _check_weights(config, io.rank)
    one = b.const(1.0, "one")
    w, pw = _param(b, config["weight"], "weight"), _param(b, config["pos_weight"], "pos_weight")
    spn = _softplus_neg(b, x)
    lw = b.op("Add", one, b.op("Mul", b.op("Sub", pw, one, name="pw_minus_1"), y,
                               name="pw_y"), name="lw") if pw else None
    neg = b.op("Mul", b.op("Sub", one, y, name="one_minus_y"), x, name="neg_term")
    per = b.op("Add", neg, b.op("Mul", lw, spn, name="pos_term") if lw else spn, name="bce")

    def dl():   # lw sigmoid(x) - pw y
        s = b.op("Sigmoid", x, name="sigmoid")
        if not pw:
            return b.op("Sub", s, y, name="dl")
        return b.op("Sub", b.op("Mul", lw, s, name="lw_s"), b.op("Mul", pw, y, name="pw_y2"),
                    name="dl")

    return _weighted(b, per, w, reduction, grad, dl)


def emit_sigmoid_focal(b, loss, io):
    """alpha_t (1 - p_t)^gamma BCEWithLogits(x, y); smp's normalized / reduced_threshold."""
    config, x, target, mask = loss.config, io.x, io.target, io.mask
    reduction, grad, rank, indices = io.reduction, io.grad, io.rank, io.kind == "index"
    ct = b.compute_dtype
    one, zero, two = b.const(1.0, "one"), b.const(0.0, "zero"), b.const(2.0, "two")
    counted = positions = None
    over_positions = config["_mean_over"] == "positions"
    if over_positions and not indices:
        raise ValueError("this sigmoid_focal_loss's mean is over positions: it takes class "
                         "indices, not targets of the input's shape")
    if indices:
        # one-vs-rest over the class axis: y[n, c, ...] = (t[n, ...] == c)
        axis1 = b.const(np.array([1], np.int64), "class_axis_1d")
        tu = b.op("Unsqueeze", target, axis1, name="target_col")
        c = b.op("Gather", b.op("Shape", x, name="shape"), b.const(np.int64(1), "class_axis"),
                 name="num_classes", axis=0)
        classes = b.op("Range", b.const(np.int64(0), "zero_i64"), c,
                       b.const(np.int64(1), "one_i64"), name="classes")
        shape = b.const(np.array([1, -1] + [1] * (rank - 2), np.int64), "classes_shape")
        classes = b.op("Reshape", classes, shape, name="classes_bcast")
        y = b.cast(b.op("Equal", tu, classes, name="is_class"), ct, name="onehot")
        counted = b.op("Not", b.op("Equal", tu, b.const(np.int64(config["ignore_index"]),
                                                         "ignore_index"), name="is_ignored"),
                       name="valid")
        if mask is not None:
            counted = b.op("And", counted, b.op("Unsqueeze", mask, axis1, name="mask_col"),
                           name="valid_masked")
        positions = counted
        counted = b.op("Expand", counted, b.op("Shape", x, name="x_shape"), name="counted")
    else:
        y = target
        if mask is not None:
            counted = b.op("Expand", mask, b.op("Shape", x, name="x_shape"), name="counted")
    ce = b.op("Add", b.op("Mul", b.op("Sub", one, y, name="one_minus_y"), x, name="neg_term"),
              _softplus_neg(b, x), name="ce")
    s = b.op("Sigmoid", x, name="sigmoid")
    sn = b.op("Sigmoid", b.op("Neg", x, name="neg_x"), name="sigmoid_neg")
    one_minus_y = b.op("Sub", one, y, name="one_minus_y_q")
    # 1 - p_t = y sigmoid(-x) + (1 - y) sigmoid(x): never a subtraction that loses it once
    # p_t rounds to 1 (as the kernels)
    q = b.op("Relu", b.op("Add", b.op("Mul", y, sn, name="y_sn"),
                          b.op("Mul", one_minus_y, s, name="ny_s"), name="q_raw"), name="q")
    gamma = b.const(float(config["gamma"]), "gamma")
    thr = config["reduced_threshold"]
    base = b.op("Div", q, b.const(thr, "threshold"), name="q_over_thr") if thr else q
    ft = b.op("Pow", base, gamma, name="focal_term")
    low = None
    if thr:
        p_t = b.op("Add", b.op("Mul", y, s, name="y_s"),
                   b.op("Mul", one_minus_y, sn, name="ny_sn"), name="p_t")
        low = b.op("Less", p_t, b.const(thr, "threshold_2"), name="easy")
        ft = b.op("Where", low, one, ft, name="focal_term_reduced")
    alpha = float(config["alpha"])
    at = None
    if alpha >= 0:
        at = b.op("Add", b.op("Mul", b.const(alpha, "alpha"), y, name="alpha_y"),
                  b.op("Mul", b.const(1.0 - alpha, "one_minus_alpha"),
                       b.op("Sub", one, y, name="one_minus_y_2"), name="alpha_neg"),
                  name="alpha_t")
    per = b.op("Mul", ft, ce, name="focal_ce")
    if at:
        per = b.op("Mul", at, per, name="alpha_focal_ce")
    if counted is not None:
        per = b.op("Where", counted, per, zero, name="per_counted")
    # the mean's denominator: counted elements, or counted positions (class indices)
    count = b.total(b.cast(positions, ct, name="positions_f"), name="count") \
        if over_positions else _count(b, per, counted)
    raw_total = None
    if config["normalized"]:
        fts = b.op("Where", counted, ft, zero, name="ft_counted") if counted is not None else ft
        f_raw = b.total(fts, name="ft_sum")
        f_eps = b.const(1e-6, "norm_eps")
        F = b.op("Max", f_raw, f_eps, name="norm")
        raw_total = b.total(per, name="raw_sum")
        per = b.op("Div", per, F, name="normalized")
    loss = _reduce(b, per, count, reduction)
    if not grad:
        return loss, None
    # d q / d x divided by q: finite, 0 where q == 0 (its limit inside dft)
    dq = b.op("Mul", b.op("Mul", s, sn, name="s_1ms"),
              b.op("Sub", one, b.op("Mul", two, y, name="two_y"), name="one_minus_2y"),
              name="dq")
    qpos = b.op("Greater", q, zero, name="q_pos")
    safe_q = b.op("Where", qpos, q, one, name="q_safe")
    dq_q = b.op("Where", qpos, b.op("Div", dq, safe_q, name="dq_over_q_raw"), zero,
                name="dq_over_q")
    dft = b.op("Mul", b.op("Mul", gamma, ft, name="gamma_ft"), dq_q, name="dft")
    if low:
        dft = b.op("Where", low, zero, dft, name="dft_reduced")
    # a focal term with no slope (gamma = 0, the reduced branch) adds nothing, even beside
    # an infinite ce or a NaN normalizer (as the kernels)
    flat = b.op("Equal", dft, zero, name="no_slope")
    dl = b.op("Add", b.op("Where", flat, zero, b.op("Mul", dft, ce, name="dft_ce_raw"),
                          name="dft_ce"),
              b.op("Mul", ft, b.op("Sub", b.op("Mul", one_minus_y, s, name="ny_s_2"),
                                   b.op("Mul", y, sn, name="y_sn_2"), name="s_minus_y"),
                   name="ft_dce"), name="dl")
    if at:
        dl = b.op("Mul", at, dl, name="alpha_dl")
    scale = _grad_scale(b, count, reduction)
    if config["normalized"]:
        # L = sc * S / F:  dL = sc (dl / F - S / F^2 dF), dF = dft unless F was clamped
        g = b.op("Div", dl, F, name="dl_over_f")
        ratio = b.op("Div", raw_total, b.op("Mul", F, F, name="f_sq"), name="s_over_f2")
        ratio = b.op("Where", b.op("Greater", f_raw, f_eps, name="unclamped"), ratio, zero,
                     name="s_over_f2_active")
        g = b.op("Sub", g, b.op("Where", flat, zero, b.op("Mul", ratio, dft,
                                                          name="norm_term_raw"),
                                name="norm_term"), name="dl_normalized")
    else:
        g = dl
    g = b.op("Mul", g, scale, name="grad_scaled")
    if counted is not None:
        g = b.op("Where", counted, g, zero, name="grad_counted")
    return loss, g
