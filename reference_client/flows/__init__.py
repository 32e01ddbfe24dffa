"""The seed's two flows, step by step: `run_scheduled` and `run_triggered`."""

from reference_client.flows.common import FlowContext
from reference_client.flows.scheduled import run_scheduled
from reference_client.flows.triggered import run_triggered

__all__ = ["FlowContext", "run_scheduled", "run_triggered"]
