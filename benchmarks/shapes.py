"""The benchmark shapes, and the data each loss is fed (fixed seeds, float32 logits).

The first performance round fixed S1 and K1 and named S2 and S3 without defining them;
they are defined here to cover what S1 does not: S2 a 3-D volume (two spatial dims more
than a picture is nothing special: the kernels see positions), S3 many classes (ADE20K-like, 150), with
wider integer targets.  S1_NHWC is S1's data stored channels-last (a view with the
logical shape (N, C, H, W), as `torch.channels_last` is), S1_NC the same values as an
(N, C) batch of S1's 2 M positions (21 classes contiguous per row, the layout of C < 32
classification), and B1 is the binary segmentation batch for the sigmoid losses.  S1, S2
and S3 have about the same number of logits (40-44 M, 160-176 MB of float32), so their
times compare.

L1, L2 and L3 are the small inputs of the per-call cost benchmark (benchmarks/latency.py),
int64 targets as a PyTorch user passes them.
"""
import numpy as np

SHAPES = {
    "S1": dict(shape=(8, 21, 512, 512), target=np.uint8, ignore_index=255,
               about="segmentation batch, uint8 targets, 5% ignored (255)"),
    "S1_NHWC": dict(shape=(8, 21, 512, 512), target=np.uint8, ignore_index=255,
                    channels_last=True, about="S1 stored channels-last"),
    "S2": dict(shape=(2, 14, 96, 128, 128), target=np.uint8, ignore_index=255,
               about="3-D volumes, 14 classes, uint8 targets, 5% ignored"),
    "S3": dict(shape=(4, 150, 256, 256), target=np.int32, ignore_index=-100,
               about="150 classes, int32 targets, 5% ignored (-100)"),
    "K1": dict(shape=(65536, 1000), target=np.int64, ignore_index=-100,
               about="classification, 1000 classes, int64 targets, 5% ignored"),
    "S1_NC": dict(shape=(8 * 512 * 512, 21), target=np.uint8, ignore_index=255,
                  rows_of="S1", about="S1_NHWC's values as (N, C) rows, uint8 targets"),
    "B1": dict(shape=(16, 1, 512, 512), target=None, ignore_index=None,
               about="binary segmentation batch, dense 0/1 targets (30% ones)"),
    "L1": dict(shape=(32, 10), target=np.int64, ignore_index=-100, small=True,
               about="a small classification batch, int64 targets, 5% ignored"),
    "L2": dict(shape=(256, 100), target=np.int64, ignore_index=-100, small=True,
               about="a classification batch, int64 targets, 5% ignored"),
    "L3": dict(shape=(8, 21, 32, 32), target=np.int64, ignore_index=-100, small=True,
               about="a small segmentation batch, int64 targets, 5% ignored"),
}


def logits(name, seed=0):
    """float32 logits of shape `name`, channels-last when the shape says so; a shape of
    rows (`rows_of`) holds the channels-last values of the shape it names."""
    spec = SHAPES[name]
    rng = np.random.default_rng(seed)
    shape = spec["shape"]
    if spec.get("rows_of"):
        src = SHAPES[spec["rows_of"]]["shape"]
        nhwc = (src[0],) + src[2:] + (src[1],)
        return rng.standard_normal(nhwc, dtype=np.float32).reshape(shape)
    if spec.get("channels_last"):
        nhwc = (shape[0],) + shape[2:] + (shape[1],)
        x = rng.standard_normal(nhwc, dtype=np.float32)
        return np.moveaxis(x, -1, 1)
    return rng.standard_normal(shape, dtype=np.float32)


def class_targets(name, seed=1, ignored=True):
    """Class indices for the positions of `name` in the shape's target dtype; 5% set to
    the ignore_index unless ignored=False."""
    spec = SHAPES[name]
    shape = spec["shape"]
    pos = (shape[0],) + shape[2:]
    rng = np.random.default_rng(seed)
    t = rng.integers(0, shape[1], pos).astype(spec["target"])
    if ignored:
        t[rng.random(pos) < 0.05] = spec["ignore_index"]
    return t


def dense_targets(name, seed=2):
    """0/1 float32 targets with the logits' shape (30% ones): multilabel / binary."""
    spec = SHAPES[name]
    rng = np.random.default_rng(seed)
    return (rng.random(spec["shape"]) < 0.3).astype(np.float32)


class Data:
    """Builds each shape's arrays once and keeps them (the suite visits a shape for
    several losses and thread counts), plus the float64 reference values."""

    def __init__(self):
        self._arrays = {}
        self._refs = {}

    def _get(self, key, make):
        if key not in self._arrays:
            self._arrays[key] = make()
        return self._arrays[key]

    def logits(self, name):
        return self._get(("logits", name), lambda: logits(name))

    def class_targets(self, name, ignored=True):
        return self._get(("targets", name, ignored),
                         lambda: class_targets(name, ignored=ignored))

    def dense_targets(self, name):
        return self._get(("dense", name), lambda: dense_targets(name))

    def log_probs(self, name):
        """float32 log-softmax of the logits, in the logits' memory layout (NLL's input)."""
        def make():
            x = self.logits(name).astype(np.float64)
            lp = x - x.max(axis=1, keepdims=True)
            lp -= np.log(np.exp(lp).sum(axis=1, keepdims=True))
            lp = lp.astype(np.float32)
            if SHAPES[name].get("channels_last"):
                lp = np.moveaxis(np.ascontiguousarray(np.moveaxis(lp, 1, -1)), -1, 1)
            return lp
        return self._get(("logp", name), make)

    def probabilities(self, name):
        """float32 sigmoid of the logits (BCE's input)."""
        return self._get(("prob", name), lambda: (1 / (1 + np.exp(-self.logits(name)
                                                                   .astype(np.float64))))
                         .astype(np.float32))

    def reference(self, loss, name, compute):
        if (loss, name) not in self._refs:
            self._refs[loss, name] = float(compute())
        return self._refs[loss, name]

    def drop(self, name):
        """Forget a shape's arrays (the suite moves on to the next shape)."""
        self._arrays = {k: v for k, v in self._arrays.items() if k[1] != name}
