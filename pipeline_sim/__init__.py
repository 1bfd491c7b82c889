"""pipeline_sim: an agent-based simulator of cadre pipelines and succession gaps."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pipeline-sim")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+source"

from pipeline_sim.model import PipelineModel
from pipeline_sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["PipelineModel", "Scenario", "ScenarioError", "__version__", "load_scenario"]

from pipeline_sim.api import ArgumentError, RunResult, run

__all__ += ["ArgumentError", "RunResult", "run"]
