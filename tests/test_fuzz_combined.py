"""Fuzzing the fused pair of a combined loss (onnxlosses/_fused.py): cross-entropy or softmax
focal beside a Dice-family loss, on the softmax family's fuzz cases (dtypes, layouts,
extreme and non-finite logits, target widths, ignored and masked positions, grad_output,
out=), against the same combined loss evaluated term by term (the fusion switched off).
Each term alone is fuzzed against the float64 references in test_fuzz_softmax.py and
test_fuzz_dice.py; here the fused kernel must agree with them to rounding, refuse what
they refuse (the same exception type), and never touch memory outside its operands (the
sanitizer build runs this file too)."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

pytest.importorskip("hypothesis")
pytest.importorskip("torch", reason="the softmax fuzz cases come with PyTorch references")

from fuzz_support import assert_close, budget, magnitude  # noqa: E402
from fuzz_refs import dice_family  # noqa: E402
from test_fuzz_softmax import softmax_cases, term_scales  # noqa: E402

from onnxlosses import (DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss,  # noqa: E402
                        _fused)

DICE = (DiceLoss, JaccardLoss, TverskyLoss, GeneralizedDiceLoss)
VARIANTS = {DiceLoss: "dice", JaccardLoss: "jaccard", TverskyLoss: "tversky",
            GeneralizedDiceLoss: "generalized"}


@st.composite
def dice_terms(draw, ignore_index):
    cls = draw(st.sampled_from(DICE))
    params = dict(squared=draw(st.booleans()), per_image=draw(st.booleans()),
                  smooth=draw(st.sampled_from([0.0, 1e-5, 1.0])),
                  eps=draw(st.sampled_from([0.0, 1e-7])),
                  reduction=draw(st.sampled_from(["mean", "sum"])),
                  # the softmax term's own index (fused), none, or another one (term by term)
                  ignore_index=draw(st.sampled_from(
                      [ignore_index, None, 0, 255] if ignore_index >= 0 else
                      [ignore_index, None, 0])))
    if cls is not GeneralizedDiceLoss and draw(st.booleans()):
        params["log_loss"] = True
    return cls(**params)


def _call(loss, case, want_grad, go, out, term_by_term):
    x, t = case.x.view, case.t.view
    mask = None if case.mask is None else case.mask.view
    saved = _fused.pair
    if term_by_term:
        _fused.pair = lambda terms: None
    try:
        with np.errstate(all="ignore"):
            if want_grad:
                return loss.value_and_grad(x, t, mask=mask, grad_output=go, out=out)
            return loss(x, t, mask=mask), None
    except (ValueError, TypeError) as exc:
        return type(exc)
    finally:
        _fused.pair = saved


@budget(150)
@given(data=st.data(), kind=st.sampled_from(["ce", "focal"]),
       w_s=st.sampled_from([1.0, 0.5, -0.25, 0.0]), w_d=st.sampled_from([1.0, 2.0, 0.0]),
       go=st.sampled_from([None, 1.0, -3.0, 0.0, np.nan]))
def test_fuzz_fused_pair_matches_term_by_term(data, kind, w_s, w_d, go):
    case = data.draw(softmax_cases(kind))
    soft = case.loss
    cfg = soft.config
    assume(cfg["reduction"] != "none" and np.asarray(case.t.view).dtype.kind in "iu")
    dice = data.draw(dice_terms(cfg["ignore_index"]), label="dice")
    loss = w_s * soft + w_d * dice
    want_grad = case.entry.startswith("value_and_grad")
    x = case.x.view
    out = None
    if case.entry == "value_and_grad_out" and np.ndim(x):
        out = np.full(np.shape(x), np.nan, dtype=np.asarray(x).dtype)
    want = _call(loss, case, want_grad, go, None if out is None else out.copy(), True)
    got = _call(loss, case, want_grad, go, out, False)
    if isinstance(want, type) or isinstance(got, type):
        assert got == want, f"fused: {got}, term by term: {want}"
        return
    (v, g), (v0, g0) = got, want
    dtype = np.asarray(x).dtype
    mag = magnitude(x)
    if kind == "focal":
        mag = max(mag, min(cfg["gamma"], 1e3))
    vscale, gscale = _term_scales(kind, soft, w_s, dice, w_d, case, go)
    assert_close(v, v0, dtype, "fused value", magnitude=mag, scale=vscale)
    if want_grad:
        assert g.dtype == dtype and g.shape == np.shape(x)
        if out is not None:
            assert g is out
        assert_close(g, g0.astype(np.float64), dtype, "fused gradient", magnitude=mag,
                     scale=gscale)


def _term_scales(kind, soft, w_s, dice, w_d, case, go):
    """(value scale, gradient scale): the sizes of the two terms' rounding errors (each
    term's weight per position, and the Dice term's largest dL/dp), as the per-family
    fuzzers measure them; fused, one term's rounding shows in the other's result (a
    gradient that cancels to 0 term by term is an ulp of the terms fused)."""
    x = np.array(case.x.view, np.float64)
    t = np.array(case.t.view)
    mask = None if case.mask is None else np.array(case.mask.view)
    g = 1.0 if go is None or not np.isfinite(go) else abs(go)
    try:
        with np.errstate(all="ignore"):
            v_s, g_s = term_scales(kind, soft.config, x, t, mask, None)
            _, _, g_d = dice_family(VARIANTS[type(dice)], dice.config, x, t, mask, None,
                                    scale=True)
            C = x.shape[1]
            scores = (x.shape[0] if dice.config["per_image"] else 1) * C
            v_d = scores if dice.config["reduction"] == "sum" else 1.0
    except Exception:  # noqa: BLE001 - a batch a reference refuses: the default scales
        return None, None
    return (abs(w_s) * v_s + abs(w_d) * v_d), g * (abs(w_s) * g_s + abs(w_d) * float(g_d))
