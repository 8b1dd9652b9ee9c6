"""The simulated source (loaders/registry.py): a demo of AWS and Azure costs landed in the
API loaders' own raw tables, so it runs end to end without credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loaders.aws_cost_explorer.source import AWS_COMMITMENT_UTILIZATION, AWS_COST_EXPLORER
from loaders.azure_cost_management.source import (
    AZURE_COMMITMENT_COSTS,
    AZURE_COMMITMENTS,
    AZURE_COST_MANAGEMENT,
)
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings


@dataclass(frozen=True)
class SimulatedConfig:
    """What a simulated load needs besides its window."""

    seed: int = 42  # FINOPS_SIMULATED_SEED: the estate and its amounts


def configure(settings: Settings) -> SimulatedConfig:
    """The loader's configuration from the application's settings."""
    return SimulatedConfig(seed=settings.simulated_seed)


SOURCE = SourceSpec(
    name="simulated",
    ledger_source="simulated",
    raw_tables=(
        AWS_COST_EXPLORER,
        AWS_COMMITMENT_UTILIZATION,
        AZURE_COST_MANAGEMENT,
        AZURE_COMMITMENT_COSTS,
        AZURE_COMMITMENTS,
    ),
    dbt_sources=("aws_cost_explorer", "azure_cost_management"),
    providers=("AWS", "Azure"),
    window="history",
    loader="loaders.simulated:load_for_run",
    rank=0,
    summary="simulated AWS and Azure costs (no credentials needed)",
    plan_note="no API request (the answers are generated)",
    demo=True,
    configure=configure,
)
