"""Simulated source: a deterministic multi-cloud estate landed like the real loaders land theirs.

The loader is in `loader.py` (its docstring tells how it works), the source's declaration in
`source.py` (loaders/registry.py). Names are read from `loader.py` on first use, so reading
the registry never imports it.
"""

from loaders.registry import lazy_attributes

__getattr__ = lazy_attributes(f"{__name__}.loader")
