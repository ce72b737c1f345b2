"""The synapse model library (``models/synapses/*.toml``) and its merging into neurons.

A linear synapse (exponential, alpha, bi-exponential current; exponential conductance) is
a set of post-synaptic equations: all synapses of one kind onto a neuron share them, so
they are merged into the neuron model.  The neuron names an input (``I_syn``), the
synapse file says which of its variables drives it (``output``); every other name of the
synapse file gets the suffix ``_<input>`` (``tau`` -> ``tau_I_syn``), and ``v`` means the
neuron's membrane potential (``voltage=``).  See docs/network_files.md.

A *kinetic* synapse (``kind = "kinetic"``: AMPA, GABA_A, NMDA, GABA_B) has a state per
synapse (fraction of open receptors, G-protein) integrated clock-driven, and a summed
output ``I_post = ... : amp (summed)`` that drives the neuron's input:
:func:`kinetic_synapses` builds the :class:`~biosnn.network.Synapses` object.

Examples
--------
>>> from biosnn import Model
>>> from biosnn.network.synapse_models import with_synapses, on_pre
>>> m = Model("dv/dt = (-v + R*I_syn)/tau_m : volt",
...           params={"tau_m": "10 ms", "R": "100 Mohm", "I_syn": "0 pA"})
>>> m2 = with_synapses(m, {"I_syn": "exp_current"})
>>> sorted(m2.states), on_pre("exp_current", "I_syn")
(['I_syn', 'v'], 'I_syn += w')
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from biosnn import units
from biosnn.errors import ModelError, UnitError
from biosnn.names import MAX_LENGTH, check_identifier, from_stem

__all__ = [
    "SynapseModel",
    "load_synapse",
    "list_synapses",
    "with_synapses",
    "on_pre",
    "kinetic_synapses",
]

_KEYS = (
    "name",
    "title",
    "description",
    "reference",
    "output",
    "weight_unit",
    "on_pre",
    "equations",
    "parameters",
    "kind",
    "initial",
)
_KINDS = ("linear", "kinetic")


@dataclass(frozen=True)
class SynapseModel:
    """One synapse file: equations, parameters, the output variable and the spike rule."""

    name: str
    equations: str
    parameters: tuple
    output: str
    on_pre: str
    weight_unit: str
    title: str = ""
    description: str = ""
    reference: str = ""
    kind: str = "linear"
    initial: tuple = ()

    def names(self) -> list:
        """Variables and parameters declared by the synapse (not ``v``)."""
        from biosnn.equations import parser

        if self.kind == "kinetic":
            raise ModelError(
                f"the synapse {self.name} is kinetic (one state per synapse); "
                "build it with kinetic_synapses(), not with_synapses()"
            )
        out = [st.name for st in parser.parse_equations(self.equations)]
        return out + [p for p, _ in self.parameters if p not in out]

    def renamed(self, target: str, voltage: str = "v"):
        """``(equations, params, on_pre)`` with the names of the input ``target``."""
        mapping = {n: (target if n == self.output else f"{n}_{target}") for n in self.names()}
        mapping["v"] = voltage

        def sub(text):
            text = re.sub(
                r"\bd([A-Za-z_]\w*)/dt\b",
                lambda m: f"d{mapping.get(m.group(1), m.group(1))}/dt",
                text,
            )
            return re.sub(
                r"\b([A-Za-z_]\w*)\b", lambda m: mapping.get(m.group(1), m.group(1)), text
            )

        params = {mapping[p]: value for p, value in self.parameters}
        return sub(self.equations), params, sub(self.on_pre)


def _dirs() -> list:
    from biosnn.equations.files import library_dirs

    return [d / "synapses" for d in library_dirs()]


def _files() -> dict:
    found = {}
    for d in _dirs():
        if d.is_dir():
            for path in sorted(d.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def list_synapses() -> list:
    """``(name, title)`` of the synapse library.

    Examples
    --------
    >>> "exp_current" in dict(list_synapses())
    True
    """
    return [(name, load_synapse(name).title) for name in sorted(_files())]


@functools.lru_cache(maxsize=64)
def load_synapse(name_or_path) -> SynapseModel:
    """A synapse model by library name (``"exp_current"``) or file path."""
    from biosnn.equations.files import _name_lines, _toml

    text = str(name_or_path)
    path = Path(text) if text.endswith(".toml") else _files().get(text)
    if path is None or not path.is_file():
        raise ModelError(
            f"no synapse model {text!r}; the library has {', '.join(sorted(_files())) or 'none'}"
        )
    raw = path.read_text(encoding="utf-8")
    try:
        data = _toml().loads(raw)
    except Exception as exc:  # tomllib.TOMLDecodeError
        raise ModelError(f"invalid TOML: {exc}", source=str(path)) from None
    for key in data:
        if key not in _KEYS:
            raise ModelError(f"unknown key {key!r}; allowed: {', '.join(_KEYS)}", source=str(path))
    for key in ("output", "on_pre", "equations", "weight_unit"):
        if not isinstance(data.get(key), str):
            raise ModelError(f"{key} must be a string", source=str(path))
    kind = data.get("kind", "linear")
    if kind not in _KINDS:
        raise ModelError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}", source=str(path))
    name = check_identifier(
        data.get("name", from_stem(path.stem)),
        "the synapse model name",
        source=str(path),
        line=dict(_name_lines(raw)).get("name"),
    )
    try:  # a unit, not text: it is written into the synapse equations (w : unit)
        units.parse_unit(data["weight_unit"])
    except UnitError as exc:
        raise ModelError(f"weight_unit: {exc}", source=str(path)) from None
    return SynapseModel(
        name=name,
        equations=data["equations"],
        parameters=tuple(data.get("parameters", {}).items()),
        output=data["output"],
        on_pre=data["on_pre"],
        weight_unit=data["weight_unit"],
        title=data.get("title", ""),
        description=data.get("description", ""),
        reference=data.get("reference", ""),
        kind=kind,
        initial=tuple(data.get("initial", {}).items()),
    )


def on_pre(synapse, target: str) -> str:
    """The ``on_pre`` statement of ``synapse`` feeding the neuron input ``target``
    (``w`` is the synaptic weight, a parameter or per-synapse variable of the Synapses).
    """
    syn = synapse if isinstance(synapse, SynapseModel) else load_synapse(synapse)
    if syn.kind == "kinetic":
        return syn.on_pre
    return syn.renamed(target)[2]


def kinetic_synapses(
    synapse,
    pre,
    post,
    target: str,
    *,
    connect,
    w,
    voltage: str = "v",
    params=None,
    init=None,
    delay=0,
    name=None,
    method=None,
):
    """A :class:`~biosnn.network.Synapses` object for a kinetic library synapse.

    Parameters
    ----------
    synapse : str or SynapseModel
        ``"ampa"``, ``"gaba_a"``, ``"nmda"``, ``"gaba_b"`` or a file.
    pre, post : source and target groups
    target : str
        The parameter of the postsynaptic model that receives the summed current (declare
        it in the neuron, ``I_syn : amp`` with a default ``"0 pA"``).
    connect : connectivity rule
    w : value
        Maximal conductance per synapse (shared: a number in nS or a string with a unit;
        per synapse: a Distribution or array, then ``w`` is a per-synapse variable).
    voltage : str
        The membrane potential of the postsynaptic model (``v_post`` in the file).
    params, init : dict, optional
        Override the file's parameters (shared) and initial values (per synapse).
    delay, name, method
        As for Synapses (method default: exponential Euler, exact for the pulse).

    Examples
    --------
    >>> from biosnn import Model
    >>> from biosnn.network import Population, SpikeGenerator, AllToAll
    >>> neuron = Model("dv/dt = (-65*mV - v)/(10*ms) + I_syn/(100*pF) : volt",
    ...                params={"I_syn": "0 pA"})
    >>> P, src = Population(neuron, 1), SpikeGenerator(1, [0], [1.0])
    >>> syn = kinetic_synapses("ampa", src, P, "I_syn", connect=AllToAll(), w="1 nS")
    >>> syn.clock_driven, syn.summed
    (('r',), ('I_syn',))
    """
    from biosnn.network.objects import Synapses

    _check_variables(target=target, voltage=voltage)
    syn = synapse if isinstance(synapse, SynapseModel) else load_synapse(synapse)
    if syn.kind != "kinetic":
        raise ModelError(
            f"the synapse {syn.name} is linear: merge it into the neuron with "
            "with_synapses() and on_pre()"
        )
    text = re.sub(rf"\b{re.escape(syn.output)}_post\b", lambda m: f"{target}_post", syn.equations)
    text = re.sub(r"\bv_post\b", lambda m: f"{voltage}_post", text)
    shared = dict(syn.parameters)
    shared.update(params or {})
    per_synapse = not isinstance(w, (str, int, float))
    if per_synapse:
        text = text.rstrip("\n") + f"\nw : {syn.weight_unit}\n"
        values = dict(syn.initial, **(init or {}), w=w)
    else:
        shared["w"] = w
        values = dict(syn.initial, **(init or {}))
    return Synapses(
        pre,
        post,
        model=text,
        on_pre=syn.on_pre,
        connect=connect,
        params=shared,
        init=values,
        delay=delay,
        name=name,
        method=method,
    )


def _check_variables(**names) -> None:
    """The names written into synapse equations are variable names (ModelError)."""
    from biosnn.equations import parser

    for what, name in names.items():
        if name is not None:
            if not isinstance(name, str):
                raise ModelError(f"{what} must be a variable name, not {name!r}")
            parser.check_name(name, what=what)


def with_synapses(model, inputs: dict, voltage: str | None = None):
    """A neuron model whose inputs are driven by library synapses.

    Parameters
    ----------
    model : biosnn.Model
        Its equations use each input name (``I_syn``) as a parameter (declared with a
        default, e.g. ``I_syn = "0 pA"``) or a declared name.
    inputs : dict
        input name -> synapse name or :class:`SynapseModel` (``{"I_e": "exp_conductance"}``).
    voltage : str, optional
        The membrane potential (default: the model's first state).

    Returns
    -------
    biosnn.Model
        The input becomes a state or alias of the synapse equations; the synapse
        parameters are added as ``<name>_<input>``.  Its name is the model's name and
        the synapses' names joined by ``_`` (``lif_exp_current``; cut to
        :data:`biosnn.names.MAX_LENGTH` characters).
    """
    from biosnn.equations.model import Model

    for target in inputs:
        _check_variables(input=target)
    _check_variables(voltage=voltage)
    args = model.arguments
    eqs = args["equations"]
    params = dict(args["params"] or {})
    voltage = voltage or next(iter(model.states))
    used = []
    for target, syn in inputs.items():
        syn = syn if isinstance(syn, SynapseModel) else load_synapse(syn)
        used.append(syn.name)
        if target not in model.params:
            raise ModelError(
                f"model {model.name} has no parameter {target!r} for the "
                f"synapse {syn.name} to drive; its parameters: "
                f"{', '.join(model.params)}"
            )
        text, sparams, _ = syn.renamed(target, voltage)
        params.pop(target, None)
        eqs = re.sub(rf"^\s*{re.escape(target)}\s*:.*$", "", eqs, flags=re.M)
        eqs = eqs.rstrip("\n") + "\n" + text
        params.update(sparams)
    args.update(
        equations=eqs, params=params, _origin=None, name="_".join([model.name] + used)[:MAX_LENGTH]
    )
    args.pop("presets", None)
    return Model(**args)
