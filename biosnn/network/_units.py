"""A network library built from translation units, each object cached by its own hash.

:func:`biosnn.network._cengine.generate_units` cuts a network's C source into units (one
per non-exact population, one for the step loop).  :func:`build` compiles only the units
whose object is not in the cache, in parallel (one compiler process each), and links all
objects into one shared library, stored like every library of the cache
(``c/<sha256 of its bytes>.so``).  So a change to one equation recompiles only the units
whose text it changes and relinks: a synapse equation or statement, or a reset, is in
the step loop (``net``); a neuron equation or threshold only in its population's unit
(``pop<k>``, called by name from the loop).  The other objects are reused.

Cache records (:mod:`biosnn.cache`'s trust rules): an object is a blob
``c/<sha256 of its bytes>.o``, found through a ref ``netobj-<k>.ref`` where ``k`` hashes
the package key, the compiler identity, the flags, the CPU, the unit's name and its text.
The object's bytes are read and hash-checked, then written into the private temporary
directory the linker runs in: a damaged or replaced object is a miss (recompiled), never
linked.  A ref ``netobj-<l>.ref`` (``l`` hashes the same identities and the objects'
digests) names the library linked from exactly those objects, so a change that alters
no C text (the equations of an 'exact' population: its propagator is an input) links
nothing; the library is hash-checked before use like every library.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["build"]


def _object_ref(folder: Path, parts: list) -> Path:
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return folder / f"netobj-{key}.ref"


def build(compiler, flags: tuple, cpu: str, units: list, source: str) -> tuple[Path, list]:
    """Compile the missing units, link, store the library; ``(library path, names of
    the units compiled)``.

    Parameters
    ----------
    compiler : biosnn.codegen.c_build.Compiler
    flags : tuple of str
        The full flags of the library (with ``-shared``); units get them without
        ``-shared``, with ``-c``.
    cpu : str
        The CPU identity (``-march=native`` code differs between CPUs).
    units : list of (name, text)
        Names are plain tokens (``net``, ``pop0``); texts are generated C.
    source : str
        The whole source (stored as a ``.c`` blob next to the library, for reading).
    """
    from biosnn import cache
    from biosnn.codegen import c_build

    folder = c_build.cache_dir()
    cache.clean_stale(folder)
    common = [cache.package_key(), compiler.identity, " ".join(flags), cpu]
    unit_flags = [f for f in flags if f != "-shared"]
    with cache.temp_dir(folder) as tmp:
        tmp = Path(tmp)
        todo, refs = [], {}
        for name, text in units:
            ref = _object_ref(folder, [*common, name, text])
            refs[name] = ref
            digest = cache.read_ref(ref)
            data = cache.read_blob(folder, digest, ".o") if digest else None
            if data is not None:
                (tmp / f"{name}.o").write_bytes(data)
            else:
                (tmp / f"{name}.c").write_text(text)
                todo.append(name)

        def compile_one(name):
            c_build._run(compiler, [*unit_flags, "-c", "-o", f"{name}.o", f"{name}.c"], cwd=tmp)

        if todo:
            with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
                # list(): the first CompilerError is raised here
                list(pool.map(compile_one, todo))
        digests = []
        for name, _ in units:
            data = (tmp / f"{name}.o").read_bytes()
            digests.append(hashlib.sha256(data).hexdigest())
            if name in todo:
                cache.put_blob(folder, data, ".o")
                cache.write_ref(refs[name], digests[-1])
        # the same objects were linked before (an edit that changed no C text, such as
        # an exact propagator's equation): that library, hash-checked
        link_ref = _object_ref(folder, [*common, "link", *digests])
        lib = c_build._verified(folder, cache.read_ref(link_ref))
        if lib is None:
            objects = [f"{name}.o" for name, _ in units]
            c_build._run(compiler, [*flags, "-o", "lib.so", *objects, "-lm"], cwd=tmp)
            data = (tmp / "lib.so").read_bytes()
            lib = folder / f"{hashlib.sha256(data).hexdigest()}.so"
            if not lib.exists():
                cache.write_atomic(lib, data)
            cache.write_ref(link_ref, lib.stem)
    cache.put_blob(folder, source.encode(), ".c")
    return lib, todo
