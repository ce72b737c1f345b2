"""The C runtime files (biosnn/codegen/runtime/) and the model's names in generated C.

Expected values: the ABI and status codes are those of :mod:`biosnn.codegen.c_abi` (what
Python fills and reads); the noise header is :data:`biosnn.solvers.noise.C_SOURCE`
(printed from the NumPy generator's constants); the HH fragments are the C that the
kernels compiled from when this layout was introduced (the HH rk4, exponential Euler,
rk45, dop853 and rodas4 runs gave the same bits before and after the names were added).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import test_c_specs as S

import biosnn
from biosnn.codegen import c_abi, c_backend, c_build, c_model, c_runtime
from biosnn.solvers.request import RunRequest

needs_cc = pytest.mark.skipif(c_build.find_compiler() is None, reason="no C compiler")


# -- the runtime files --------------------------------------------------------------------
def test_abi_header_declares_exactly_the_fields_python_fills():
    body = c_runtime.runtime_text("bs_abi.h").split("typedef struct {")[1]
    body = body.split("} bs_args;")[0]
    fields = []
    for line in body.strip("\n").splitlines():
        m = re.match(r"\s+(int64_t|uint64_t|double)( \*|\s)\s*(\w+);", line)
        assert m, line
        fields.append((m.group(3), m.group(1) + (" *" if "*" in m.group(2) else "")))
    assert tuple(fields) == c_abi.ARG_FIELDS


def test_abi_status_codes_are_those_python_reads():
    text = c_runtime.runtime_text("bs_abi.h")
    codes = {int(v) for v in re.findall(r"BS_[A-Z]+ = (\d+)", text)}
    assert codes == set(c_abi.STATUS)


def test_noise_header_is_the_numpy_generator_in_c():
    from biosnn.solvers import noise

    text = c_runtime.runtime_text("bs_noise.h")
    assert text.split("*/\n", 1)[1].strip() == noise.C_SOURCE.strip()


def test_every_runtime_file_is_listed_and_used():
    on_disk = {p.name for p in c_runtime.RUNTIME_DIR.iterdir() if p.suffix in (".c", ".h")}
    assert on_disk == set(c_runtime.FILES)
    used = set()
    for family in ("fixed", "adaptive", "rodas"):
        used |= {part for part in c_runtime._layout(family) if not part.startswith("<")}
    assert used == set(c_runtime.FILES)
    with pytest.raises(ValueError, match="not a runtime file"):
        c_runtime.runtime_text("../c_backend.py")


def test_the_source_is_the_runtime_files_around_the_generated_part():
    spec = S.hh_spec()
    src = c_backend.generate_source(spec, "rodas")
    for name in c_runtime._layout("rodas"):
        if not name.startswith("<"):
            assert c_runtime.runtime_text(name) in src, name
    short = c_runtime.generate_source(spec, "rodas", runtime=False)
    assert "/* runtime file bs_rodas.c (biosnn/codegen/runtime/) */" in short
    assert "bs_lusolve" not in short and "static void bs_jac(" in short


def test_no_runtime_identifier_ends_in_an_underscore():
    # the generated C names model variables NAME_ (c_model.c_name): they must not meet a
    # runtime name; comments are removed first (they may say "sum_{k}")
    for name in c_runtime.FILES:
        code = re.sub(r"/\*.*?\*/", " ", c_runtime.runtime_text(name), flags=re.S)
        assert re.findall(r"\b[A-Za-z]\w*_\b", code) == [], name


def test_editing_a_runtime_file_changes_the_package_key(tmp_path):
    # the package key (biosnn.cache) keys every cached kernel; it must see the runtime
    from biosnn import cache

    package = Path(biosnn.__file__).parent
    pkg = tmp_path / "biosnn"
    shutil.copytree(package, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    files = [rel for rel, _ in cache._package_files(pkg)]
    assert {f"codegen/runtime/{name}" for name in c_runtime.FILES} <= set(files)
    key = cache._hash_package(pkg, "0.1.0")
    target = pkg / "codegen" / "runtime" / "bs_fixed.c"
    target.write_text(target.read_text().replace("OpenMP", "OpenMP ", 1))
    assert cache._hash_package(pkg, "0.1.0") != key


def _warning_free(compiler, src: str, tmp_path: Path, name: str) -> list:
    """Compile ``src`` whole and unit by unit with -Wall -Wextra -Werror; the names of
    the translation units compiled (each must compile without a diagnostic).
    """
    units = c_build.split_units(src)
    texts = [("whole", src)] + ([(n, t) for n, _, t in units] if len(units) > 1 else [])
    omp = "-fopenmp" if c_build.openmp_available(compiler) else "-fopenmp-simd"
    for unit, text in texts:
        path = tmp_path / f"{name}-{unit}.c"
        path.write_text(text)
        cmd = [*compiler.argv, "-std=c99", "-O1", omp, "-Wall", "-Wextra", "-Werror"]
        proc = subprocess.run(
            [*cmd, "-c", path.name, "-o", f"{path.stem}.o"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"{name} {unit}:\n{proc.stderr[:3000]}"
        assert (tmp_path / f"{path.stem}.o").stat().st_size > 0
    return [unit for unit, _ in texts]


@needs_cc
@pytest.mark.parametrize(
    "builder, families",
    [
        (S.hh_spec, ("fixed", "adaptive", "rodas")),  # shared exps, crossing, no reset
        (S.lif_spec, ("fixed", "adaptive")),  # reset, refractory time, held state
        (S.izh_spec, ("fixed", "rodas")),  # compound threshold, two resets
        (S.ou_spec, ("fixed",)),  # noise
        (S.linear_spec, ("fixed", "adaptive")),  # no threshold
    ],
)
def test_runtime_and_model_compile_with_all_warnings_as_errors(builder, families, tmp_path):
    compiler = c_build.find_compiler()
    for family in families:
        src = c_backend.generate_source(builder(), family)
        compiled = _warning_free(compiler, src, tmp_path, f"{builder.__name__}-{family}")
        assert compiled[0] == "whole"


# -- names in generated C -----------------------------------------------------------------
@pytest.fixture(scope="module")
def hh_sources():
    hh = biosnn.load_model("hodgkin_huxley")
    return {m: biosnn.kernel_source(hh, "c", method=m) for m in ("rk4", "rk45", "rodas4")}


def test_hh_scalar_functions_name_states_parameters_and_outputs(hh_sources):
    src = hh_sources["rk45"]
    body = src.split("static void bs_f(")[1].split("\n}\n")[0]
    assert "    const double V_ = y[0], m_ = y[1], h_ = y[2], n_ = y[3];\n" in body
    assert "    const double C_ = p[0], gNa_ = p[1], gK_ = p[2], gL_ = p[3]" in body
    assert (
        "    /* dV/dt */\n    out[0] = (I_ext_ - gK_*(n_*n_*n_*n_)*(-EK_ - cse0) - "
        "gL_*(-EL_ - cse0) - gNa_*h_*(m_*m_*m_)*(-ENa_ - cse0))/C_;\n"
    ) in body
    assert "    /* dn/dt */\n    out[3] = -0.125*_bse0*n_ + " in body
    # arrays are read in the loads only
    assert re.findall(r"\b[yp]\[\d+\]", body.split("const double _bse0")[1]) == []
    assert "    const double V_ = y[0];\n    return ((V_ > 0)) ? 1 : 0;" in src
    assert "   states: y[0] V, y[1] m, y[2] h, y[3] n\n" in src
    assert "   parameters: p[0] C, p[1] gNa, p[2] gK, p[3] gL, p[4] ENa, p[5] EK, p[6] EL," in src
    assert "   aliases (substituted into the equations): I_Na, I_K, I_L, alpha_m," in src


def test_hh_jacobian_names_its_entries(hh_sources):
    src = hh_sources["rodas4"]
    body = src.split("static void bs_jac(")[1].split("\n}\n")[0]
    assert "    /* d(dV/dt)/dm */\n    out[1] = -3*cse3*gNa_*h_*(m_*m_);\n" in body
    assert "    /* d(dn/dt)/dn */\n    out[15] = " in body


def test_hh_lane_functions_name_states_and_parameters(hh_sources):
    src = hh_sources["rk4"]
    assert "bs_f(" not in src  # the fixed family steps with the lane functions only
    body = src.split("BS_KERNEL void bs_f_v(")[1].split("\n}\n")[0]
    assert (
        "        const double V_ = Y[0*BS_B+l], m_ = Y[1*BS_B+l], h_ = Y[2*BS_B+l], "
        "n_ = Y[3*BS_B+l];\n"
    ) in body
    assert "        const double _bse0 = bs_vexp(-1.0/80.0*V_ - 13.0/16.0);\n" in body
    ee = src.split("BS_KERNEL void bs_expeuler_v(")[1].split("\n}\n")[0]
    assert "        /* dV/dt = A*V + B */\n        A[0*BS_B+l] = cse0*(-cse1 - cse2 - gL_);" in ee
    th = src.split("BS_KERNEL void bs_threshold_v(")[1].split("\n}\n")[0]
    assert "        const double V_ = Y[0*BS_B+l];\n        TH[l] = ((V_ > 0)) ? 1 : 0;" in th


def test_reset_reads_states_in_statement_order():
    src = c_backend.generate_source(S.izh_spec(), "adaptive")
    body = src.split("static void bs_reset(")[1].split("\n}\n")[0]
    assert "    const double c_ = p[2], d_ = p[3];\n" in body
    assert "    y[0] = c_;  /* v */\n    y[1] = d_ + y[1];  /* u */" in body


def test_c_names_refuse_what_is_not_an_identifier():
    assert c_model.c_name("g_Na") == "g_Na_"
    for bad in ("*/ evil", "1x", "", "a-b", "_x"):
        with pytest.raises(ValueError, match="not an identifier"):
            c_model.c_name(bad)


@needs_cc
def test_names_that_are_c_or_runtime_identifiers_compile_and_run(tmp_path, monkeypatch):
    # y, NS, p, expm1, cse0 and l are names the C would otherwise mean something by;
    # reference: the same RK4 steps in NumPy (float64; libm vs biosnn's exp: 1e-12)
    monkeypatch.setenv("BIOSNN_CACHE_DIR", str(tmp_path / "cache"))
    y, NS = sp.symbols("y NS", real=True)
    p, expm1, cse0, l = sp.symbols("p expm1 cse0 l", real=True)
    f = [-y / p + cse0, (l - NS) / expm1 + sp.exp(-y)]
    spec = S.make_spec("clash", ["y", "NS"], ["p", "expm1", "cse0", "l"], f, tag="clash")
    src = c_backend.generate_source(spec, "fixed")
    assert "const double y_ = Y[0*BS_B+l], NS_ = Y[1*BS_B+l];" in src
    _warning_free(c_build.find_compiler(), src, tmp_path, "clash")
    values = np.array([2.0, 3.0, 0.5, 1.5])
    dt, steps = 0.01, 200
    req = RunRequest(
        method="rk4",
        t0=0.0,
        t1=dt * steps,
        dt=dt,
        rtol=None,
        atol=None,
        y0=np.array([[0.3], [0.1]]),
        params=values[:, None],
        record_states=(0, 1),
        record_every=steps,
    )
    raw = c_backend.run(spec, req)

    def rhs(u):
        return np.array(
            [-u[0] / values[0] + values[2], (values[3] - u[1]) / values[1] + np.exp(-u[0])]
        )

    u = np.array([0.3, 0.1])
    for _ in range(steps):
        k1 = rhs(u)
        k2 = rhs(u + dt / 2 * k1)
        k3 = rhs(u + dt / 2 * k2)
        k4 = rhs(u + dt * k3)
        u = u + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(raw.y_final[:, 0], u, rtol=1e-12)


# -- kernel_source ------------------------------------------------------------------------
def test_kernel_source_is_what_simulate_compiles(hh_sources, tmp_path, monkeypatch):
    hh = biosnn.load_model("hodgkin_huxley")
    assert hh_sources["rk4"] == c_backend.generate_source(hh.kernel_spec(), "fixed")
    numpy_src = biosnn.kernel_source(hh, "numpy")
    from biosnn.codegen.numpy_backend import NumpyKernel

    assert numpy_src == NumpyKernel(hh.layout).source
    with pytest.raises(ValueError, match="unknown target"):
        biosnn.kernel_source(hh, "fortran")
    with pytest.raises(biosnn.MethodError, match="unknown method"):
        biosnn.kernel_source(hh, "c", method="rk5")
