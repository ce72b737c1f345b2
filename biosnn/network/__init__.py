"""Spiking networks: populations of biosnn models, spike sources, synapses, monitors.

See docs/network.md.  ``import biosnn.network`` imports numpy only; sympy is needed only
when a network's code is generated (a cold start), never when its compiled library is
found in the kernel cache.
"""

from biosnn.network.connectivity import (
    AllToAll,
    Blocks,
    DistanceDependent,
    FixedInDegree,
    FixedOutDegree,
    FixedProbability,
    FromArrays,
    FromSparse,
    OneToOne,
)
from biosnn.network.network import Network
from biosnn.network.objects import (
    PoissonGroup,
    Population,
    RateMonitor,
    SpikeGenerator,
    SpikeMonitor,
    StateMonitor,
    Subgroup,
    Synapses,
)
from biosnn.network.values import Constant, LogNormal, Normal, Uniform

__all__ = [
    "Network",
    "Population",
    "Subgroup",
    "Synapses",
    "PoissonGroup",
    "SpikeGenerator",
    "SpikeMonitor",
    "StateMonitor",
    "RateMonitor",
    "Uniform",
    "Normal",
    "LogNormal",
    "Constant",
    "AllToAll",
    "OneToOne",
    "FixedProbability",
    "FixedInDegree",
    "FixedOutDegree",
    "DistanceDependent",
    "FromArrays",
    "FromSparse",
    "Blocks",
    "load_network",
    "list_networks",
    "with_synapses",
    "on_pre",
    "load_synapse",
    "list_synapses",
]

# Network files and the synapse library read TOML and build Models: loaded on first use.
_LAZY = {
    "load_network": "biosnn.network.files",
    "list_networks": "biosnn.network.files",
    "with_synapses": "biosnn.network.synapse_models",
    "on_pre": "biosnn.network.synapse_models",
    "load_synapse": "biosnn.network.synapse_models",
    "list_synapses": "biosnn.network.synapse_models",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'biosnn.network' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
