"""AWS provider recommendations: Cost Optimization Hub, and Cost Explorer's Savings Plans and
reservation purchase recommendations (see `loader`)."""

from loaders.registry import lazy_attributes

__getattr__ = lazy_attributes(f"{__name__}.loader")
