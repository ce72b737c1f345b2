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

import json
import textwrap
from pathlib import Path

import pytest

import biosnn
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


def lif_file(name="lif", description="", reference="", title="", preset="fast",
             preset_description="", quote_preset=False) -> str:
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

@pytest.mark.parametrize("k", range(9))
def test_hostile_names_are_refused_where_they_enter(tmp_path, k):
    sentinel = tmp_path / "pwned"
    bad = payloads(sentinel)[k]
    with pytest.raises(ModelError, match="not a valid name"):
        biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"}, name=bad)
    with pytest.raises(ModelError, match="not a valid name"):
        biosnn.Model(LIF, params={"El": "-40 mV", "tau": "10 ms"},
                     presets={bad: {"tau": "5 ms"}})
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
    for text, pattern in ((network_file(net_name=bad), r"net\.toml, line 1: name: "),
                          (network_file(model_name=bad), r"net\.toml, line 9: the model name"),
                          (network_file(pop=bad), r"net\.toml.*\[populations\]")):
        net.write_text(text)
        with pytest.raises(ModelError, match=pattern + ".*not a valid"):
            load_network(net, backend="numpy")
    # synapse files and the Python objects of a network
    from biosnn.network.objects import Population
    from biosnn.network.synapse_models import load_synapse

    syn = tmp_path / "syn.toml"
    syn.write_text(f'name = {toml(bad)}\noutput = "I"\non_pre = "s += w"\nweight_unit = "1"\n'
                   'equations = "I = s : 1\\ndst/dt = -s/ms : 1"\n')
    with pytest.raises(ModelError, match=r"syn\.toml, line 1: the synapse model name"):
        load_synapse(str(syn))
    with pytest.raises(ModelError, match="not a valid name"):
        Population("lif", 3, name=bad)
    assert not sentinel.exists()


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


