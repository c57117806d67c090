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


@dataclass(frozen=True)
class LossSpec:
    name: str
    params: tuple
    formula: str = ""
    defaults: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "defaults", {p.name: p.default for p in self.params})

    def bind(self, kwargs):
        """Validated configuration: defaults filled in, every value checked and normalised."""
        unknown = sorted(set(kwargs) - set(self.defaults))
        if unknown:
            raise TypeError(f"{self.name} got unexpected keyword argument(s) {unknown}; "
                            f"it takes {list(self.defaults)}")
        return {p.name: p.check(p.name, kwargs.get(p.name, p.default)) for p in self.params}
