"""FOCUS export files source (CSV, CSV.gz, Parquet; a file, a folder or S3), rolled up to days.

The loader is in `loader.py` (its docstring tells how it works), the source's declaration in
`source.py` (loaders/registry.py). Names are read from `loader.py` on first use, so reading
the registry never imports it.
"""

from loaders.registry import lazy_attributes

__getattr__ = lazy_attributes(f"{__name__}.loader")
