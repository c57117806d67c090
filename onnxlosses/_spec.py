"""One description per loss: its parameters, their defaults and checks, and its formula.

The class API, the functional API and (later) the ONNX emitter all read the same spec, so a
parameter is validated in exactly one place and documented once.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    check: object          # (name, value) -> normalised value; raises TypeError/ValueError
    doc: str = ""
    internal: bool = False  # set only by presets (another library's formula), never public


@dataclass(frozen=True)
class LossSpec:
    name: str
    params: tuple
    formula: str = ""
    defaults: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "defaults", {p.name: p.default for p in self.params})

    @property
    def public(self):
        """The parameters a user passes: the constructor's and the functional's keywords."""
        return tuple(p for p in self.params if not p.internal)

    def bind(self, kwargs, internal=False):
        """Validated configuration: defaults filled in, every value checked and normalised.
        internal: the internal switches may be set too (presets, unpickling)."""
        allowed = self.defaults if internal else {p.name for p in self.public}
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(f"{self.name} got unexpected keyword argument(s) {unknown}; "
                            f"it takes {[p.name for p in self.public]}")
        return {p.name: p.check(p.name, kwargs.get(p.name, p.default)) for p in self.params}
