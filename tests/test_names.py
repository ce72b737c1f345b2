"""Opening a model or network file never runs code (issue 9, section 1).

Names are identifiers (biosnn.names.PATTERN) where they enter, and no text from a file
(names, titles, descriptions, references, unit strings) reaches generated source. The
reference here is not a number but an invariant: every hostile payload below would
create a sentinel file if a generator pasted it into C or Python source (a C
constructor that runs when the library is loaded, Python statements after a closed
docstring); the tests assert that it never exists and that the generated source holds
none of the payload.
"""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import biosnn
from biosnn import cache as cache_module
from biosnn.errors import ModelError


def payloads(sentinel: Path) -> list:
    """Texts that run ``touch sentinel`` if pasted into C or Python source."""
    c_call = f'system("touch {sentinel}");'
    py_call = f'__import__("os").system("touch {sentinel}")'
    return [
        # closes the C comment `/* model '...' */`: a constructor runs at dlopen
        f"x */ __attribute__((constructor)) static void bs_evil(void) {{ {c_call} }} /*",
        # closes the NumPy kernel's docstring `"""... model '...' ..."""`
        f'x"""; {py_call}; """',
        f"x'''; {py_call}; '''",
        # raw newlines, a NUL, a backslash at the end, a directive, an ANSI escape
        f"x\n__attribute__((constructor)) static void bs_evil2(void) {{ {c_call} }}\n//",
        f"x\n{py_call}\n",
        "x\x00y",
        "x\\",
        "#include </etc/passwd>",
        "\x1b[2Jred",
    ]


#: What none of the generated sources may contain (pieces of every payload).
MARKERS = ("bs_evil", "system(", "touch ", "__import__", "passwd", "\x1b", "\x00")


def toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text)


LIF = """dv/dt = (El - v)/tau : volt (unless refractory)"""


def lif_file(
    name="lif",
    description="",
    reference="",
    title="",
    preset="fast",
    preset_description="",
    quote_preset=False,
) -> str:
    header = f"[presets.{toml(preset)}]" if quote_preset else f"[presets.{preset}]"
    return textwrap.dedent(f"""\
        name = {toml(name)}
        title = {toml(title)}
        description = {toml(description)}
        reference = {toml(reference)}
        equations = "{LIF}"
        [parameters]
        El = "-40 mV"
        tau = "10 ms"
        [initial]
        v = "-65 mV"
        [events]
        threshold = "v > -50*mV"
        reset = "v = -65*mV"
        refractory = "2 ms"
        {header}
        description = {toml(preset_description)}
        tau = "5 ms"
        """)


def network_file(model_name="lif", net_name="net", pop="exc", text="") -> str:
    table = "populations.exc" if pop == "exc" else f"populations.{toml(pop)}"
    return textwrap.dedent(f"""\
        name = {toml(net_name)}
        title = {toml(text)}
        description = {toml(text)}
        reference = {toml(text)}
        dt = "0.1 ms"
        seed = 1

        [models.lif]
        name = {toml(model_name)}
        description = {toml(text)}
        equations = "{LIF}"
        [models.lif.parameters]
        El = "-40 mV"
        tau = "10 ms"
        [models.lif.events]
        threshold = "v > -50*mV"
        reset = "v = -65*mV"
        [models.lif.presets.quick]
        description = {toml(text)}
        tau = "5 ms"

        [{table}]
        model = "lif"
        n = 4
        method = "exact"
        init = {{ v = "-65 mV" }}

        [sources.drive]
        kind = "generator"
        n = 1
        indices = [0]
        times = ["1 ms"]

        [synapses.input]
        pre = "drive"
        post = {toml(pop)}
        on_pre = "v += 20*mV"
        connect = {{ rule = "all_to_all" }}

        [monitors]
        spikes = [{toml(pop)}]
        """)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory: every kernel is printed and compiled in the test."""
    path = tmp_path / "cache"
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(path))
    return path


def assert_clean(source: str, where: str) -> None:
    for marker in MARKERS:
        assert marker not in source, f"{marker!r} pasted into the source of {where}"


# -- names are refused where they enter -------------------------------------------------


@pytest.mark.parametrize("k", range(len(payloads(Path("/sentinel")))))
def test_hostile_names_are_refused_where_they_enter(tmp_path, k):
    sentinel = tmp_path / "pwned"
    bad = payloads(sentinel)[k]
    with pytest.raises(ModelError, match="not a valid name"):
        biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"}, name=bad)
    with pytest.raises(ModelError, match="not a valid name"):
        biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"}, presets={bad: {"tau": "5 ms"}})
    # model files: the error names the file and the line of the name
    path = tmp_path / "m.toml"
    path.write_text(lif_file(name=bad))
    with pytest.raises(ModelError, match=r"m\.toml, line 1: the model name .* not a valid"):
        biosnn.load_model(path)
    path.write_text(lif_file(preset=bad, quote_preset=True))
    with pytest.raises(ModelError, match=r"m\.toml.*the preset name .* not a valid name"):
        biosnn.load_model(path)
    # network files: the network's name, an inline model's name, a population's name
    from biosnn.network.files import load_network

    net = tmp_path / "net.toml"
    for text, pattern in (
        (network_file(net_name=bad), r"net\.toml, line 1: name: "),
        (network_file(model_name=bad), r"net\.toml, line 9: the model name"),
        (network_file(pop=bad), r"net\.toml.*\[populations\]"),
    ):
        net.write_text(text)
        with pytest.raises(ModelError, match=pattern + ".*not a valid"):
            load_network(net, backend="numpy")
    # synapse files and the Python objects of a network
    from biosnn.network.objects import Population
    from biosnn.network.synapse_models import load_synapse

    syn = tmp_path / "syn.toml"
    syn.write_text(
        f'name = {toml(bad)}\noutput = "I"\non_pre = "s += w"\nweight_unit = "1"\n'
        'equations = "I = s : 1\\ndst/dt = -s/ms : 1"\n'
    )
    with pytest.raises(ModelError, match=r"syn\.toml, line 1: the synapse model name"):
        load_synapse(str(syn))
    with pytest.raises(ModelError, match="not a valid name"):
        Population("lif", 3, name=bad)
    assert not sentinel.exists()


@pytest.mark.parametrize(
    "value",
    [
        '1 mV */ __attribute__((constructor)) static void f(void) { system("true"); } /*',
        '-65 mV"""; __import__("os").system("true"); """',
        "1 mV\n#include <stdio.h>",
        "1 \x1b[2JmV",
    ],
)
def test_unit_strings_that_are_not_units_are_refused(value):
    # a parameter's or an initial value's unit string is parsed (whitelist), never pasted:
    # text that is not a unit is an error naming the value.  "1 mV\n#include ..." was
    # accepted before (Python's parser skipped the '# comment') and became the display
    # unit 'mV #include <stdio.h>' of El
    with pytest.raises(ModelError, match=r"params El: cannot read"):
        biosnn.Model(LIF, params={"El": value, "tau": "10 ms"})
    with pytest.raises(ModelError, match="invalid syntax|not a unit"):
        biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"}, init={"v": value})


def test_library_names_follow_the_rule():
    # every shipped model, preset, network and synapse keeps working under the rule
    from biosnn.names import is_identifier
    from biosnn.network.files import list_networks
    from biosnn.network.synapse_models import list_synapses, load_synapse

    for name, _ in biosnn.list_models():
        model = biosnn.load_model(name)
        assert is_identifier(model.name) and all(is_identifier(p) for p in model.presets)
    for name, _ in list_synapses():
        assert is_identifier(load_synapse(name).name)
    assert all(is_identifier(name) for name, _ in list_networks())


def test_derived_models_have_valid_names():
    # models biosnn derives from others (synapses merged in, a fast subsystem) are named
    # by the rule even from a name of the longest length allowed
    from biosnn.analysis.fastslow import fast_subsystem
    from biosnn.network.synapse_models import _files, with_synapses

    def is_identifier(name):  # the rule as docs/models.md states it
        return re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", name) is not None

    lif = biosnn.Model(
        "dv/dt = (El - v)/tau + I_syn/C : volt",
        params={"El": "-65 mV", "tau": "10 ms", "C": "200 pF", "I_syn": "0 pA"},
        name="a" * 64,
    )
    merged = with_synapses(lif, {"I_syn": "exp_current"})
    assert is_identifier(merged.name) and merged.name.startswith("a" * 40)
    # given by path, the synapse contributes its name, not its path
    path = str(_files()["exp_current"])
    short = biosnn.Model(lif._args["equations"], params=lif._args["params"], name="lif")
    assert with_synapses(short, {"I_syn": path}).name == "lif_exp_current"
    fhn = biosnn.Model(
        "dv/dt = v - v**3/3 - w : 1\ndw/dt = 0.08*(v + 0.7 - 0.8*w) : 1", name="b" * 64
    )
    assert is_identifier(fast_subsystem(fhn, "w", value=0.0).name)


# -- no generator pastes a name, whatever reaches it -------------------------------------


def _spec_named(name):
    model = biosnn.Model(
        LIF,
        params={"El": "-40 mV", "tau": "10 ms"},
        threshold="v > -50*mV",
        reset="v = -65*mV",
        refractory="2 ms",
    )
    # a name that bypassed every check (a hand-made spec, a cached manifest): the
    # generators must not rely on the checks upstream
    return dataclasses.replace(model.kernel_spec(), name=name)


def test_model_generators_never_paste_the_name(tmp_path, cache):
    from biosnn.codegen import c_backend, c_build
    from biosnn.codegen.numpy_backend import NumpyKernel

    sentinel = tmp_path / "pwned"
    for bad in payloads(sentinel):
        spec = _spec_named(bad)
        kernel = NumpyKernel(spec)  # prints and executes the NumPy source
        assert_clean(kernel.source, "the NumPy kernel")
        for family in ("fixed", "adaptive", "rodas"):
            assert_clean(c_backend.generate_source(spec, family), f"the C {family} kernel")
    if c_build.compiler_available():
        # compile and load (constructors run at load) the first payload in each family
        spec = _spec_named(payloads(sentinel)[0])
        for family in ("fixed", "adaptive", "rodas"):
            c_build.load_library(c_build.build(c_backend.generate_source(spec, family)))
    assert not sentinel.exists()


def test_network_generators_never_paste_the_name(tmp_path, cache):
    from biosnn.codegen import c_build
    from biosnn.network import Network, Population, SpikeMonitor, _cengine

    sentinel = tmp_path / "pwned"
    model = biosnn.Model(
        LIF,
        params={"El": "-40 mV", "tau": "10 ms"},
        threshold="v > -50*mV",
        reset="v = -65*mV",
        name="lif",
    )
    pop = Population(model, 4, name="exc", method="exact")
    net = Network(pop, SpikeMonitor(pop), seed=1, backend="numpy")
    snippets = net.snippets()
    for bad in payloads(sentinel):
        st = net.structure()
        st["pops"][0]["name"] = bad  # as a cached or hand-made structure could
        st["pops"][0]["method"] = bad
        assert_clean(_cengine.generate(st, snippets), "the network C engine")
    compiler = c_build.find_compiler()
    if compiler is not None:
        st = net.structure()
        st["pops"][0]["name"] = payloads(sentinel)[0]
        units = _cengine.generate_units(st, snippets)
        lib, _ = _cengine._compile(units, _cengine.generate(st, snippets), compiler)
        c_build.load_library(lib)
    assert not sentinel.exists()


# -- free text (descriptions, references, titles) never reaches generated source -------


def _generated_sources(cache: Path) -> dict:
    """Every generated source in a cache directory: C files, the Python sources stored as
    blobs (NumPy kernels, numeric, initial and analysis functions: models/<sha256>.py),
    JSON entries and the network snippets (c/<sha256>.json).
    """
    out = {}
    for path in cache.rglob("*"):
        if path.suffix in (".c", ".py"):
            out[str(path)] = path.read_text()
        elif (
            path.suffix == ".json"
            and path.name != "units.json"
            and (
                "layout" in path.name
                or "analysis" in path.name
                or path.name.startswith("net-")
                or path.parent.name == "c"
            )
        ):
            out[str(path)] = path.read_text()
    return out


@pytest.mark.slow
def test_free_text_never_reaches_generated_source(tmp_path, cache, monkeypatch):
    import builtins

    from biosnn.analysis.equilibria import find_equilibria
    from biosnn.analysis.phaseplane import phase_plane
    from biosnn.codegen import c_build
    from biosnn.network.files import load_network

    # every Python source biosnn generates goes through compile() with a "<...>" file
    # name (NumPy kernels, numeric, initial and analysis functions, network NumPy engine)
    compiled, real_compile = {}, builtins.compile

    def recording_compile(source, filename, *args, **kwargs):
        if isinstance(source, str) and str(filename).startswith("<"):
            compiled[f"{filename} #{len(compiled)}"] = source
        return real_compile(source, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", recording_compile)
    sentinel = tmp_path / "pwned"
    text = "\n".join(payloads(sentinel))
    path = tmp_path / "lif.toml"
    path.write_text(lif_file(description=text, reference=text, title=text, preset_description=text))
    model = biosnn.load_model(path, preset="fast")
    assert model.description == text  # free text is kept as data
    backends = ["numpy"] + (["c"] if c_build.compiler_available() else [])
    for backend in backends:
        for method in ("rk4", "rk45", "rodas4"):
            tol = {} if method == "rk4" else {"rtol": 1e-6, "atol": 1e-9}
            r = biosnn.simulate(model, 20.0, method=method, dt=0.05, backend=backend, **tol)
            assert np.all(np.isfinite(r["v"]))
    fhn_text = textwrap.dedent(f"""\
        name = "fhn"
        description = {toml(text)}
        reference = {toml(text)}
        equations = '''
        dv/dt = v - v**3/3 - w + I : 1
        dw/dt = eps*(v + a - b*w) : 1
        '''
        [parameters]
        I = 0.5
        eps = 0.08
        a = 0.7
        b = 0.8
        """)
    (tmp_path / "fhn.toml").write_text(fhn_text)
    fhn = biosnn.load_model(tmp_path / "fhn.toml")
    assert len(find_equilibria(fhn)) == 1
    assert len(phase_plane(fhn, "v", "w", (-3, 3), (-3, 3)).fixed_points) == 1
    net_path = tmp_path / "net.toml"
    net_path.write_text(network_file(text=text))
    for backend in backends:
        net = load_network(net_path, backend=backend)
        net.run(5.0)
        # analytic: v = -40 - 25 exp(-t/10 ms) mV is -62.6 mV at 1 ms, the input spike
        # adds 20 mV (-42.6 > -50): each of the 4 neurons fires once; after the reset it
        # needs 9.2 ms to reach threshold again, longer than the 5 ms run
        assert net.info.spike_monitors["exc"].count.tolist() == [1, 1, 1, 1]
        assert net.info.description == text
    monkeypatch.undo()
    assert any("network" in name for name in compiled)
    assert any("numpy" in name for name in compiled)
    sources = dict(_generated_sources(cache), **compiled)
    assert any(p.endswith(".c") for p in sources) or backends == ["numpy"]
    assert any("layout" in p for p in sources)
    for where, source in sources.items():
        assert_clean(source, where)
    assert not sentinel.exists()


# -- cached names are checked before use -----------------------------------------------


def test_a_cached_manifest_cannot_rename_a_model(tmp_path, cache):
    sentinel = tmp_path / "pwned"
    args = dict(params={"El": "-40 mV", "tau": "10 ms"}, name="lif")
    biosnn.Model(LIF, **args)
    (entry,) = (cache / "models").glob("*.model.json")
    data = cache_module.read_record(entry)
    data["name"] = payloads(sentinel)[0]
    cache_module.write_record(entry, data)  # a checked record: the name check decides
    model = biosnn.Model(LIF, **args)  # the entry is ignored and rebuilt
    assert model.name == "lif"


def test_a_cached_layout_with_a_name_that_is_not_a_variable_is_refused(tmp_path, cache):
    # the layout's names are printed as identifiers (NumPy and analysis kernels); one read
    # back from the cache that is not a variable name is malformed (ignored and rebuilt)
    from biosnn.codegen.spec import KernelLayout

    model = biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"}, name="lif")
    data = model.layout.to_dict()
    assert KernelLayout.from_dict(data).states == ("v",)
    for field in ("states", "params", "alias_names", "noises"):
        bad = dict(data, **{field: ['v = __import__("os").system("true")']})
        with pytest.raises(ValueError, match="variable name"):
            KernelLayout.from_dict(bad)


# -- biosnn show -------------------------------------------------------------------------


def test_show_escapes_control_characters(tmp_path):
    import io

    from biosnn.cli import main

    description = "First paragraph \x1b[2J with an\nANSI escape.\n\nSecond\r paragraph\x07."
    path = tmp_path / "lif.toml"
    path.write_text(
        lif_file(
            description=description,
            reference="Ref \x1b]0;title\x07 (1907)",
            preset_description="fast \x1b[31mred\x9b1m",
        )
    )
    out = io.StringIO()
    assert main(["show", str(path)], out=out, err=io.StringIO()) == 0
    shown = out.getvalue()
    for raw in ("\x1b", "\x07", "\r", "\x9b"):
        assert raw not in shown
    assert "\\x1b[2J" in shown and "\\x0d" in shown and "\\x9b1m" in shown
    # the file's own paragraph break is kept (a blank line between the paragraphs), a
    # line break inside a paragraph is reflowed
    assert "with an ANSI escape.\n\nSecond" in shown


def test_models_listing_escapes_control_characters(tmp_path, monkeypatch):
    import io

    from biosnn.cli import main

    (tmp_path / "zz_evil.toml").write_text(
        lif_file(name="zz_evil", title="Leaky \x1b[2J\x1b[31mred\r")
    )
    monkeypatch.setenv("BIOSNN_MODEL_PATH", str(tmp_path))
    out = io.StringIO()
    assert main(["models"], out=out, err=io.StringIO()) == 0
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("zz_evil ") and last.endswith("  Leaky \\x1b[2J\\x1b[31mred\\x0d")


def test_synapse_texts_written_into_equations_are_names_and_units(tmp_path):
    # a synapse file's weight_unit, the target and the voltage of a kinetic synapse and
    # the inputs of with_synapses are written into equation text: each must be a unit or
    # a variable name, refused with a ModelError (a regex group reference in them raised
    # re.error before)
    from biosnn.network import AllToAll, Population, SpikeGenerator
    from biosnn.network.synapse_models import kinetic_synapses, load_synapse, with_synapses

    syn = tmp_path / "syn.toml"
    syn.write_text(
        'name = "s"\noutput = "I"\non_pre = "I += w"\n'
        'weight_unit = "pA\\nI_post = 1e9*amp : amp (summed)"\n'
        'equations = "dI/dt = -I/(5*ms) : amp"\n'
    )
    with pytest.raises(ModelError, match=r"syn\.toml: weight_unit"):
        load_synapse(str(syn))
    neuron = biosnn.Model(
        "dv/dt = (-65*mV - v)/(10*ms) + I_syn/(100*pF) : volt", params={"I_syn": "0 pA"}
    )
    P, src = Population(neuron, 1), SpikeGenerator(1, [0], [1.0])
    for target, voltage in (("I_syn\\g<0>", "v"), ("I_syn", "v\\1"), ("I_syn", "v_post = 1\n")):
        with pytest.raises(ModelError, match="cannot be the name"):
            kinetic_synapses("ampa", src, P, target, connect=AllToAll(), w="1 nS", voltage=voltage)
    with pytest.raises(ModelError, match="cannot be the name"):
        with_synapses(neuron, {"I_syn": "exp_current"}, voltage="v\\1")
    assert with_synapses(neuron, {"I_syn": "exp_current"}).name == "model_exp_current"
