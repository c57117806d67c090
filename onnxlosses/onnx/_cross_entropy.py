"""Cross-entropy and NLL as ONNX graphs, from elementary ops (or the native ONNX operators).

Composed form, class axis moved last (Transpose) because LogSoftmax over the last axis is
about 5x faster than over axis 1 on NCHW in onnxruntime (float64 builds it from elementary
ops instead: GraphBuilder.log_softmax):

    lp   = LogSoftmax(Transpose(x))                        (N, d.., C)
    t'   = Where(valid, t, 0),  valid = t != ignore_index [and mask]
    nll  = -w[t'] * GatherElements(lp, t')
    l    = (1 - eps) nll + (eps / C) * -sum_c w_c lp_c     (index targets)
    l    = -sum_c w_c q'_c lp_c,  q' = (1 - eps) q + eps/C  (probability targets)
    loss = Where(valid, l, 0), reduced; the mean's denominator is computed explicitly.

Masks use Where, never multiplication, so -inf * 0 cannot turn into NaN; a zero coefficient
times a -inf log-probability is taken as 0 as in the kernel.  The gradient (grad=True) is
the analytic one, d sum(loss) / d x:
    index:  g_i [ ((1-eps) w_t + (eps/C) W) p - (1-eps) w_t onehot - (eps/C) w ]
    probs:  g_i [ (sum_k w_k q'_k) p - w q' ]
    NLL:    -g_i w_t onehot
with g_i = 1 (sum, none) or 1 / denominator (mean) at counted positions, 0 elsewhere;
one-hot is Equal + Cast (OneHot has no float64 kernel).
"""
import numpy as np

from ..focal import alpha_per_class


def _class_count(b, x, weight):
    """C as a compute-dtype scalar: a constant when the weight fixes it, else from the shape."""
    if weight is not None:
        return b.const(float(len(weight)), "num_classes")
    c = b.op("Gather", b.op("Shape", x, name="shape"), b.const(np.int64(1), "class_axis"),
             name="num_classes_i", axis=0)
    return b.cast(c, b.compute_dtype, name="num_classes")


def _classes(b, lp):
    """int64 [0, 1, ..., C-1] from the class-last tensor's shape."""
    shape = b.op("Shape", lp, name="classes_shape")
    c = b.op("Gather", shape, b.const(np.int64(-1), "last_axis"), name="classes_n", axis=0)
    return b.op("Range", b.const(np.int64(0), "zero_i64"), c, b.const(np.int64(1), "one_i64"),
                name="classes")


def emit(b, config, x, target, mask, *, rank, log_probs, probabilities, reduction, grad,
         gamma=None, mean_over="positions"):
    """Append the loss to builder `b`.  `x` is already in the compute dtype, (N, C, d..);
    index targets are int64, probability targets in the compute dtype.
    With `gamma`, the softmax focal loss: config["weight"] holds alpha, the mean is over
    counted positions, or (mean_over "elements") their number times C.  Returns
    (loss_name, grad_name or None); grad is in the compute dtype, (N, C, d..)."""
    ct = b.compute_dtype
    weight = config["weight"]
    eps = float(config.get("label_smoothing", 0.0))
    C = _class_count(b, x, weight)
    perm = [0] + list(range(2, rank)) + [1]
    xl = b.op("Transpose", x, name="class_last", perm=perm) if rank > 2 else x
    lp = xl if log_probs else b.log_softmax(xl, -1, name="log_softmax")
    zero = b.const(0.0, "zero")
    last = b.const(np.array([-1], np.int64), "last_axis_1d")
    w_vec = b.const(weight, "weight") if weight is not None else None

    if probabilities:
        q = b.op("Transpose", target, name="target_class_last", perm=perm) if rank > 2 else target
        if eps > 0:
            q = b.op("Add", b.op("Mul", q, b.const(1.0 - eps, "keep")),
                     b.op("Div", b.const(eps, "eps"), C, name="eps_over_c"), name="smoothed")
        k = b.op("Mul", q, w_vec, name="weighted_target") if weight is not None else q
        kl = b.op("Where", b.op("Equal", k, zero, name="k_is_zero"), zero,
                  b.op("Mul", k, lp, name="k_lp"), name="k_lp_finite")
        per = b.op("Neg", b.op("ReduceSum", kl, last, name="sum_classes", keepdims=0),
                   name="per_position")
        valid = mask
        if mask is not None:
            per = b.op("Where", mask, per, zero, name="masked")
            den = b.total(b.cast(mask, ct, name="mask_f"), name="count")
        else:
            den = b.cast(b.op("Size", per, name="size"), ct, name="count")
    else:
        t = target
        ii = b.const(np.int64(config["ignore_index"]), "ignore_index")
        valid = b.op("Not", b.op("Equal", t, ii, name="is_ignored"), name="valid")
        if mask is not None:
            valid = b.op("And", valid, mask, name="valid_masked")
        ts = b.op("Where", valid, t, b.const(np.int64(0), "class0"), name="safe_target")
        tsu = b.op("Unsqueeze", ts, last, name="target_col")
        # a positive axis: onnx.reference mishandles GatherElements with axis=-1
        picked = b.op("GatherElements", lp, tsu, name="lp_target", axis=rank - 1)
        lpt = b.op("Squeeze", picked, last, name="lp_t")
        wt = b.op("Gather", w_vec, ts, name="w_t", axis=0) if weight is not None else None
        nll = b.op("Neg", b.op("Mul", wt, lpt, name="w_lp_t") if wt else lpt, name="nll")
        if gamma is not None:
            # focal: (1 - p_t)^gamma times the (alpha-weighted) nll
            one = b.const(1.0, "one")
            pt = b.op("Exp", lpt, name="p_t")
            q = b.op("Relu", b.op("Sub", one, pt, name="q_raw"), name="q")
            qg = b.op("Pow", q, b.const(gamma, "gamma"), name="focal_term")
            nll = b.op("Mul", qg, nll, name="focal_nll")
        per = nll
        if eps > 0:
            wl = lp
            if weight is not None:
                wl = b.op("Mul", lp, w_vec, name="w_lp")
                if np.any(weight == 0):
                    wl = b.op("Where", b.const(weight != 0, "weight_nonzero"), wl, zero,
                              name="w_lp_finite")
            smooth = b.op("Neg", b.op("ReduceSum", wl, last, name="sum_w_lp", keepdims=0),
                          name="smooth")
            per = b.op("Add", b.op("Mul", nll, b.const(1.0 - eps, "keep")),
                       b.op("Mul", smooth, b.op("Div", b.const(eps, "eps"), C, name="eps_c")),
                       name="smoothed_loss")
        per = b.op("Where", valid, per, zero, name="per_position")
        counted = b.op("Where", valid, wt, zero, name="w_counted") if wt and gamma is None \
            else b.cast(valid, ct, name="valid_f")
        den = b.total(counted, name="total_weight")
        if gamma is not None and mean_over == "elements":
            den = b.op("Mul", den, C, name="total_elements")

    if reduction == "none":
        loss = per
    else:
        total = b.total(per, name="loss_sum")
        loss = b.op("Div", total, den, name="loss_mean") if reduction == "mean" else total

    if not grad:
        return loss, None

    # d sum(loss) / d x
    scale = b.op("Div", b.const(1.0, "one"), den, name="inv_total") if reduction == "mean" \
        else b.const(1.0, "one")
    gi = b.op("Where", valid, scale, zero, name="g") if valid is not None else \
        b.op("Expand", scale, b.op("Shape", per, name="per_shape"), name="g")
    giu = b.op("Unsqueeze", gi, last, name="g_col")
    if probabilities:
        p = b.op("Exp", lp, name="softmax")
        a = b.op("ReduceSum", k, last, name="sum_k", keepdims=1)
        g = b.op("Mul", giu, b.op("Sub", b.op("Mul", a, p, name="a_p"), k, name="a_p_k"),
                 name="grad_class_last")
    else:
        onehot = b.cast(b.op("Equal", tsu, _classes(b, lp), name="onehot_b"), ct, name="onehot")
        wtu = b.op("Unsqueeze", wt, last, name="w_t_col") if wt else None
        if gamma is not None:
            # coef = alpha_t (q^gamma - gamma p_t q^(gamma-1) log p_t); the second term is 0
            # where q == 0 (its limit), selected with Where so inf * 0 never forms
            p = b.op("Exp", lp, name="softmax")
            qpos = b.op("Greater", q, zero, name="q_pos")
            qs = b.op("Where", qpos, q, one, name="q_safe")
            term = b.op("Mul", b.op("Mul", b.const(gamma, "gamma_2"), pt, name="gamma_pt"),
                        b.op("Mul", b.op("Pow", qs, b.const(gamma - 1.0, "gamma_m1"),
                                         name="q_pow"), lpt, name="q_pow_lpt"), name="term")
            term = b.op("Where", qpos, term, zero, name="term_finite")
            coef = b.op("Sub", qg, term, name="focal_coef")
            if wt:
                coef = b.op("Mul", coef, wt, name="alpha_coef")
            coef = b.op("Mul", giu, b.op("Unsqueeze", coef, last, name="coef_col"), name="g_coef")
            g = b.op("Mul", coef, b.op("Sub", p, onehot, name="p_minus_onehot"),
                     name="grad_class_last")
        elif log_probs:
            coef = b.op("Mul", giu, wtu, name="g_w") if wt else giu
            g = b.op("Neg", b.op("Mul", coef, onehot, name="g_onehot"), name="grad_class_last")
        else:
            p = b.op("Exp", lp, name="softmax")
            if eps == 0:
                coef = b.op("Mul", giu, wtu, name="g_w") if wt else giu
                g = b.op("Mul", coef, b.op("Sub", p, onehot, name="p_minus_onehot"),
                         name="grad_class_last")
            else:
                keep = b.const(1.0 - eps, "keep")
                epsc = b.op("Div", b.const(eps, "eps"), C, name="eps_c")
                W = b.const(float(weight.sum()), "weight_total") if weight is not None else C
                wtu1 = wtu if wt else b.const(1.0, "one")
                a = b.op("Add", b.op("Mul", keep, wtu1, name="keep_w"),
                         b.op("Mul", epsc, W, name="eps_w"), name="a")
                hot = b.op("Mul", b.op("Mul", keep, wtu1, name="keep_wt"), onehot, name="hot")
                flat = b.op("Mul", epsc, w_vec, name="eps_wc") if weight is not None else epsc
                inner = b.op("Sub", b.op("Sub", b.op("Mul", a, p, name="a_p"), hot,
                                         name="a_p_hot"), flat, name="a_p_hot_flat")
                g = b.op("Mul", giu, inner, name="grad_class_last")
    if valid is not None:
        g = b.op("Where", b.op("Unsqueeze", valid, last, name="valid_col"), g, zero,
                 name="grad_counted")
    if rank > 2:
        inverse = [0, rank - 1] + list(range(1, rank - 1))
        g = b.op("Transpose", g, name="grad", perm=inverse)
    return loss, g


def emit_cross_entropy(b, loss, io):
    """Cross-entropy of class indices or (kind "float") class probabilities."""
    config = loss.config
    probabilities = io.kind == "float"
    if probabilities and config["ignore_index"] >= 0:
        raise ValueError("ignore_index is not supported with class-probability targets")
    return emit(b, config, io.x, io.target, io.mask, rank=io.rank, log_probs=False,
                probabilities=probabilities, reduction=io.reduction, grad=io.grad)


def emit_nll(b, loss, io):
    return emit(b, loss.config, io.x, io.target, io.mask, rank=io.rank, log_probs=True,
                probabilities=False, reduction=io.reduction, grad=io.grad)


def emit_focal(b, loss, io):
    """Softmax focal loss: the cross-entropy graph with the focal transform, alpha as the
    per-class weight."""
    config = loss.config
    alpha = config["alpha"]
    if (alpha is not None and np.ndim(alpha) == 0) or config["_alpha0"] is not None:
        if isinstance(io.shape[1], str):
            raise ValueError("a scalar alpha needs the number of classes: give shape= with a "
                             "fixed C, or alpha per class")
        alpha = alpha_per_class(config, io.shape[1])
    cfg = dict(weight=alpha, ignore_index=config["ignore_index"], reduction=io.reduction,
               label_smoothing=0.0)
    return emit(b, cfg, io.x, io.target, io.mask, rank=io.rank, log_probs=False,
                probabilities=False, reduction=io.reduction, grad=io.grad,
                gamma=float(config["gamma"]), mean_over=config["_mean_over"])


def emit_native_cross_entropy(b, loss, io):
    return emit_native(b, loss.config, io.x, io.target, io.mask, log_probs=False,
                       reduction=io.reduction), None


def emit_native_nll(b, loss, io):
    return emit_native(b, loss.config, io.x, io.target, io.mask, log_probs=True,
                       reduction=io.reduction), None


def emit_native(b, config, x, target, mask, *, log_probs, reduction):
    """SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss, for interoperability.  In
    float64, cross-entropy is log_softmax + NegativeLogLikelihoodLoss: onnxruntime's CUDA
    SoftmaxCrossEntropyLoss runs its float32-internal softmax (see GraphBuilder.log_softmax),
    1e-9 to 3e-5 relative off in float64 on an H200, where NegativeLogLikelihoodLoss matched."""
    if not log_probs and b.compute_dtype == np.float64:
        x, log_probs = b.log_softmax(x, 1, name="log_softmax"), True
    t = target
    ii = config["ignore_index"]
    if mask is not None:
        t = b.op("Where", mask, t, b.const(np.int64(ii), "ignore_index"), name="masked_target")
    inputs = [x, t]
    if config["weight"] is not None:
        inputs.append(b.const(config["weight"], "weight"))
    op = "NegativeLogLikelihoodLoss" if log_probs else "SoftmaxCrossEntropyLoss"
    return b.op(op, *inputs, name=op.lower(), ignore_index=ii, reduction=reduction)
