"""Dice, Jaccard, Tversky and generalized Dice as ONNX graphs, from elementary ops.

The graph computes the same statistics as the kernel (I = sum p t, P = sum p^k, T = sum t^k
over counted pixels, per image or pooled), the same score
s = (a I + smooth) / max(bP P + bT T + c I + smooth_dr, eps) and the same reduction; with
grad=True it adds the analytic gradient: dL/dI and dL/dP per (sample,) class, then
dL/dp = A t + B k p^(k-1) through the activation (softmax: p (g - sum_c p g), sigmoid:
g p (1 - p)), 0 at pixels that are not counted.  Targets one-hot as Equal + Cast.
"""
import numpy as np

from ._builder import NP_TO_ONNX


def emit_dice(b, loss, io):
    """Dice, Jaccard, Tversky: a score per (sample,) class, then their mean."""
    return _emit(b, loss, io, generalized=False)


def emit_generalized_dice(b, loss, io):
    """Generalized Dice: one score per sample (or pooled) over class-weighted sums."""
    return _emit(b, loss, io, generalized=True)


def _emit(b, loss, io, generalized):
    config, x, target, mask = loss.config, io.x, io.target, io.mask
    rank, indices, reduction, grad = io.rank, io.kind == "index", io.reduction, io.grad
    ct = b.compute_dtype
    mode = config["mode"]
    one, zero = b.const(1.0, "one"), b.const(0.0, "zero")
    axis1 = b.const(np.array([1], np.int64), "class_axis_1d")

    # prediction (kept unmasked: the gradient goes back through this activation)
    p = x
    if config["from_logits"]:
        p = b.softmax(x, 1, name="softmax") if mode == "multiclass" else \
            b.op("Sigmoid", x, name="sigmoid")
    activation = p
    # target and counted pixels (or elements)
    counted = None
    if indices:
        tu = b.op("Unsqueeze", target, axis1, name="target_col")
        shape = b.op("Shape", x, name="shape")
        c = b.op("Gather", shape, b.const(np.int64(1), "class_axis"), name="num_classes", axis=0)
        classes = b.op("Range", b.const(np.int64(0), "zero_i64"), c,
                       b.const(np.int64(1), "one_i64"), name="classes")
        classes = b.op("Reshape", classes, b.const(np.array([1, -1] + [1] * (rank - 2),
                                                            np.int64), "classes_shape"),
                       name="classes_bcast")
        y = b.cast(b.op("Equal", tu, classes, name="is_class"), ct, name="onehot")
        if config["ignore_index"] is not None:
            counted = b.op("Not", b.op("Equal", tu, b.const(np.int64(config["ignore_index"]),
                                                             "ignore_index"), name="is_ignored"),
                           name="valid")
    else:
        y = target
        if config["ignore_index"] is not None:
            ign = b.op("Equal", y, b.const(float(config["ignore_index"]), "ignore_value"),
                       name="is_ignored")
            counted = b.op("Not", ign, name="valid")
    if mask is not None:
        mu = b.op("Unsqueeze", mask, axis1, name="mask_col")
        counted = mu if counted is None else b.op("And", counted, mu, name="valid_masked")
    if counted is not None:
        p = b.op("Where", counted, p, zero, name="p_counted")
        y = b.op("Where", counted, y, zero, name="y_counted")
    k = 2 if config["squared"] else 1
    per_image = config["per_image"]
    axes = b.const(np.array(([] if per_image else [0]) + list(range(2, rank)), np.int64),
                   "reduce_axes")

    def total(v, name):  # (N, C) input per image: no axis to sum, and none must mean none
        return b.op("ReduceSum", v, axes, name=name, keepdims=0, noop_with_empty_axes=1)

    I = total(b.op("Mul", p, y, name="p_y"), "I")
    P = total(b.op("Mul", p, p, name="p_sq") if k == 2 else p, "P")
    T = total(b.op("Mul", y, y, name="y_sq") if k == 2 else y, "T")
    s_nr = config["smooth"]
    s_dr = s_nr if config["smooth_dr"] is None else config["smooth_dr"]
    C_axis = 1 if per_image else 0                       # the class axis of I, P, T

    if generalized:
        loss_out, A, B = _generalized(b, config, I, P, T, C_axis, s_nr, s_dr, reduction, grad)
        natural = 1 if per_image else 0
    else:
        loss_out, A, B = _score(b, loss, config, I, P, T, C_axis, s_nr, s_dr, reduction, grad)
        natural = (1 if per_image else 0) + (0 if mode == "binary" else 1)
    if reduction == "none" and config.get("_keep_spatial"):
        # MONAI's shape: ones up to the input's rank, less the pooled batch axis
        extra = rank - natural - (0 if per_image else 1)
        if extra > 0:
            loss_out = b.op("Unsqueeze", loss_out, b.const(
                np.arange(natural, natural + extra, dtype=np.int64), "monai_axes"),
                name="none_monai")
    if not grad:
        return loss_out, None
    # per (sample,) class coefficients -> per pixel
    spatial = b.const(np.array(list(range(2, rank)) if per_image else
                               [0] + list(range(2, rank)), np.int64), "expand_axes")
    A = b.op("Unsqueeze", A, spatial, name="A_px")
    B = b.op("Unsqueeze", B, spatial, name="B_px")
    g = b.op("Add", b.op("Mul", A, y, name="A_y"),
             b.op("Mul", B, b.op("Mul", b.const(2.0, "two"), p, name="two_p") if k == 2
                  else one, name="B_dP"), name="dL_dp")
    if config["from_logits"]:
        pa = activation
        if mode == "multiclass":
            s = b.op("ReduceSum", b.op("Mul", pa, g, name="p_g"), axis1, name="sum_p_g",
                     keepdims=1)
            g = b.op("Mul", pa, b.op("Sub", g, s, name="g_minus_sum"), name="grad_softmax")
        else:
            g = b.op("Mul", g, b.op("Mul", pa, b.op("Sub", one, pa, name="one_minus_p"),
                                    name="p_1mp"), name="grad_sigmoid")
    if counted is not None:
        g = b.op("Where", counted, g, zero, name="grad_counted")
    return loss_out, g


def _finite(b, v, name):
    return b.op("Where", b.op("IsNaN", v, name=f"{name}_isnan"), b.const(0.0, "zero"), v,
                name=name)


def _score(b, loss, config, I, P, T, C_axis, s_nr, s_dr, reduction, grad):
    a, bP, bT, c = loss._coefficients()
    one, zero = b.const(1.0, "one"), b.const(0.0, "zero")
    eps = b.const(float(config["eps"]), "eps")
    num = b.op("Add", b.op("Mul", b.const(a, "coef_a"), I, name="a_I"), b.const(s_nr, "smooth"),
               name="num")
    den_raw = b.op("Add", b.op("Add", b.op("Mul", b.const(bP, "coef_bp"), P, name="bp_P"),
                                b.op("Mul", b.const(bT, "coef_bt"), T, name="bt_T"),
                                name="bp_P_bt_T"),
                   b.op("Add", b.op("Mul", b.const(c, "coef_c"), I, name="c_I"),
                        b.const(s_dr, "smooth_dr"), name="c_I_s"), name="den_raw")
    active = b.op("Not", b.op("Less", den_raw, eps, name="den_low"), name="den_active")
    den = b.op("Where", active, den_raw, eps, name="den")
    score = b.op("Div", num, den, name="score")
    if config["log_loss"]:
        sc = b.op("Where", b.op("Less", score, eps, name="score_low"), eps, score,
                  name="score_clamped")
        per = b.op("Neg", b.op("Log", sc, name="log_score"), name="log_loss")
        dl_ds = b.op("Where", b.op("Less", score, eps, name="score_low_2"), zero,
                     b.op("Neg", b.op("Div", one, sc, name="inv_score"), name="neg_inv"),
                     name="dl_ds")
    else:
        per = b.op("Sub", one, score, name="one_minus_score")
        dl_ds = b.const(-1.0, "minus_one")
    gamma = float(config.get("gamma", 1.0))
    after = config.get("_gamma_after_mean", False)
    if gamma != 1.0 and not after:
        base = b.op("Relu", per, name="loss_base")
        per = b.op("Pow", base, b.const(gamma, "gamma"), name="loss_pow")
        if grad:
            powm1 = b.op("Pow", b.op("Where", b.op("Greater", base, zero, name="base_pos"),
                                     base, one, name="base_safe"),
                         b.const(gamma - 1.0, "gamma_m1"), name="base_pow")
            # at base 0 the derivative's limit from inside the clamp, 0 (as the kernel)
            powm1 = b.op("Where", b.op("Greater", base, zero, name="base_pos_2"), powm1,
                         zero, name="base_pow_0")
            dl_ds = b.op("Mul", dl_ds, b.op("Mul", b.const(gamma, "gamma_2"), powm1,
                                            name="gamma_pow"), name="dl_ds_pow")
    absent = b.op("Equal", T, zero, name="absent")
    used = None
    skip = config.get("_skip_class")
    if skip is not None and config["classes"] is None:
        # every class but one (MONAI's include_background=False: 0); all when there is one
        if skip != 0:
            raise ValueError("export takes _skip_class=0 (include_background=False) only")
        idx = _class_index(b, T, C_axis)
        shape = b.op("Shape", T, name="entries_shape_2")
        n_cls = b.op("Gather", shape, b.const(np.int64(C_axis), "entries_class_axis_2"),
                     name="entries_classes_2", axis=0)
        used = b.op("Or", b.op("Greater", idx, b.const(np.int64(0), "zero_i64_3"),
                               name="not_background"),
                    b.op("Equal", n_cls, b.const(np.int64(1), "one_i64_3"), name="one_class"),
                    name="selected")
    if config["classes"] is not None:
        sel = b.op("Equal", b.op("Unsqueeze", _class_index(b, T, C_axis), b.const(
            np.array([-1], np.int64), "last_1d"), name="class_col"),
            b.const(np.array(config["classes"], np.int64), "classes_sel"), name="class_eq")
        used = b.op("Cast", b.reduce("ReduceMax", b.cast(sel, np.int32, name="class_eq_i"),
                                     [-1], name="sel_any", keepdims=0),
                    name="selected", to=NP_TO_ONNX[np.dtype(bool)])
    if config["absent"] == "zero":
        per = b.op("Where", absent, zero, per, name="absent_zeroed")
        dl_ds = b.op("Where", absent, zero, dl_ds, name="dl_ds_zeroed")
    elif config["absent"] == "skip":
        present = b.op("Not", absent, name="present")
        used = present if used is None else b.op("And", used, present, name="used")
    w = b.const(config["weight"], "weight") if config["weight"] is not None else one
    if used is not None:
        wu = b.op("Where", used, b.op("Mul", w, b.op("Cast", used, name="used_f",
                                                        to=NP_TO_ONNX[b.compute_dtype]),
                                      name="w_used_raw"), zero, name="w_used")
    else:
        wu = b.op("Mul", w, b.op("Cast", b.op("Equal", T, T, name="all_true"), name="ones",
                                 to=NP_TO_ONNX[b.compute_dtype]), name="w_used")
    terms = b.op("Mul", wu, per, name="terms")
    if used is not None:   # a class left out adds nothing, even a NaN loss (as the kernel)
        terms = b.op("Where", used, terms, zero, name="terms_used")
    if reduction == "none":
        out = b.op("Where", b.op("Greater", wu, zero, name="w_pos") if used is not None
                   else b.op("Equal", T, T, name="all_true_2"),
                   b.op("Mul", w, per, name="w_per"), b.const(np.nan, "nan"), name="none")
        if config["classes"] is not None:
            out = b.op("Gather", out, b.const(np.array(config["classes"], np.int64),
                                                "classes_idx"), name="none_classes",
                       axis=C_axis)
        elif config.get("_skip_class") is not None:
            # classes 1..C-1: the background column goes (one class: MONAI keeps it)
            shape = b.op("Shape", out, name="none_shape")
            n_cls = b.op("Gather", shape, b.const(np.array([C_axis], np.int64), "none_cax"),
                         name="none_classes_n", axis=0)
            start = b.op("Min", b.const(np.array([1], np.int64), "one_1d"),
                         b.op("Sub", n_cls, b.const(np.array([1], np.int64), "one_1d_2"),
                              name="c_minus_1"), name="first_scored")
            out = b.op("Slice", out, start, n_cls, b.const(np.array([C_axis], np.int64),
                                                           "none_cax_2"), name="none_scored")
        if config["mode"] == "binary":
            out = b.op("Squeeze", out, b.const(np.array([C_axis], np.int64), "class_ax"),
                       name="none_binary")
        dv_dl = wu
        value = out
    else:
        tot = b.total(terms, name="total")
        wm = config.get("_weight_mean", "sum")
        norm = {"sum": lambda: b.total(wu, name="norm"),
                "count": lambda: b.total(b.op("Cast", b.op("Greater", wu, zero, name="w_pos_2")
                                              if used is not None else
                                              b.op("Equal", T, T, name="all_t"),
                                              name="used_count_f",
                                              to=NP_TO_ONNX[b.compute_dtype]), name="norm"),
                "all": lambda: b.cast(b.op("Size", T, name="entries"), b.compute_dtype,
                                      name="norm")}[wm]()
        if reduction == "sum":
            value, dv_dl = tot, wu
        else:
            value = b.op("Div", tot, norm, name="mean")
            dv_dl = b.op("Div", wu, norm, name="dv_dl")
        if after and gamma != 1.0:
            base = b.op("Relu", value, name="mean_base")
            if grad:
                dv_dl = b.op("Mul", dv_dl, b.op("Mul", b.const(gamma, "gamma_3"),
                                                b.op("Pow", base, b.const(gamma - 1.0,
                                                                          "gamma_m1_2"),
                                                     name="mean_pow"), name="d_pow"),
                             name="dv_dl_pow")
            value = b.op("Pow", base, b.const(gamma, "gamma_4"), name="mean_gamma")
    if not grad:
        return value, None, None
    den_sq = b.op("Mul", den, den, name="den_sq")
    ds_dI = b.op("Where", active, b.op("Div", b.op("Sub", b.op("Mul", b.const(a, "coef_a_2"),
                                                                den, name="a_den"),
                                                    b.op("Mul", num, b.const(c, "coef_c_2"),
                                                         name="num_c"), name="dI_num"),
                                        den_sq, name="dI_raw"),
                   b.op("Div", b.const(a, "coef_a_3"), den, name="a_over_den"), name="ds_dI")
    ds_dP = b.op("Where", active, b.op("Neg", b.op("Div", b.op("Mul", num, b.const(bP, "coef_bp_2"),
                                                                name="num_bp"), den_sq,
                                                    name="dP_raw"), name="dP_neg"),
                 zero, name="ds_dP")
    chain = b.op("Mul", dv_dl, dl_ds, name="dv_ds")
    A = _finite(b, b.op("Mul", chain, ds_dI, name="A_raw"), "A")
    B = _finite(b, b.op("Mul", chain, ds_dP, name="B_raw"), "B")
    return value, A, B


def _class_index(b, T, C_axis):
    """int64 class index of every entry of T ((N, C) or (C,))."""
    shape = b.op("Shape", T, name="entries_shape")
    c = b.op("Gather", shape, b.const(np.int64(C_axis), "entries_class_axis"),
             name="entries_classes", axis=0)
    idx = b.op("Range", b.const(np.int64(0), "zero_i64_2"), c, b.const(np.int64(1), "one_i64_2"),
               name="class_index")
    if C_axis == 1:
        idx = b.op("Expand", b.op("Unsqueeze", idx, b.const(np.array([0], np.int64),
                                                            "first_1d"), name="class_row"),
                   shape, name="class_index_2d")
    return idx


def _generalized(b, config, I, P, T, C_axis, s_nr, s_dr, reduction, grad):
    one, zero = b.const(1.0, "one"), b.const(0.0, "zero")
    wt = config["weighting"]
    if wt == "square":
        w = b.op("Div", one, b.op("Mul", T, T, name="T_sq"), name="w_raw")
    elif wt == "simple":
        w = b.op("Div", one, T, name="w_raw")
    else:
        w = b.op("Add", b.op("Mul", T, zero, name="T_zero"), one, name="w_raw")
    cax = b.const(np.array([C_axis], np.int64), "gdl_class_axis")
    if config["classes"] is not None or config.get("_skip_class") is not None:
        raise ValueError("generalized_dice_loss export does not take classes (or "
                         "include_background=False) yet")
    inf = b.op("IsInf", w, name="w_inf")
    w0 = b.op("Where", inf, zero, w, name="w_finite")
    wmax = b.reduce("ReduceMax", w0, [C_axis], name="w_max", keepdims=1)
    w = b.op("Where", inf, wmax, w0, name="w")
    if config["weight"] is not None:
        w = b.op("Mul", w, b.const(config["weight"], "weight"), name="w_weighted")
    num = b.op("Add", b.op("Mul", b.const(2.0, "two"), b.op("ReduceSum", b.op("Mul", w, I,
                                                                             name="w_I"),
                                                            cax, name="sum_w_I", keepdims=0),
                           name="two_sum_w_I"), b.const(s_nr, "smooth"), name="num")
    den = b.op("Add", b.op("ReduceSum", b.op("Mul", w, b.op("Add", P, T, name="P_T"),
                                             name="w_P_T"), cax, name="sum_w_P_T", keepdims=0),
               b.const(s_dr, "smooth_dr"), name="den_raw")
    eps = b.const(float(config["eps"]), "eps")
    clamped = b.op("Less", den, eps, name="den_clamped")    # then a constant: no d/dP
    den = b.op("Max", den, eps, name="den")
    per = b.op("Sub", one, b.op("Div", num, den, name="score"), name="gdl")   # (S,) or ()
    if reduction == "none":
        value, dv = per, one
    elif reduction == "sum":
        value, dv = b.total(per, name="total"), one
    else:
        value = b.reduce("ReduceMean", per, [0], name="mean", keepdims=0) if C_axis == 1 \
            else per
        dv = b.op("Div", one, b.cast(b.op("Size", per, name="n_scores"), b.compute_dtype,
                                     name="n_scores_f"), name="dv")
    if not grad:
        return value, None, None
    den_u = b.op("Unsqueeze", den, cax, name="den_col") if C_axis == 1 else den
    num_u = b.op("Unsqueeze", num, cax, name="num_col") if C_axis == 1 else num
    A = b.op("Mul", dv, b.op("Neg", b.op("Div", b.op("Mul", b.const(2.0, "two_2"), w,
                                                     name="two_w"), den_u, name="A_div"),
                             name="A_neg"), name="A_raw")
    B = b.op("Mul", dv, b.op("Div", b.op("Mul", num_u, w, name="num_w"),
                             b.op("Mul", den_u, den_u, name="den_sq"), name="B_div"),
             name="B_raw")
    clamped_u = b.op("Unsqueeze", clamped, cax, name="clamped_col") if C_axis == 1 else clamped
    B = b.op("Where", clamped_u, zero, B, name="B_open")
    return value, _finite(b, A, "A"), _finite(b, B, "B")
