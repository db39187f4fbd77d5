"""labelquorum: label datasets with a quorum of annotators — small models, LLMs and people.

The public API::

    import labelquorum as lq
    project = lq.init_project("dir", labels=["negative", "positive"])   # or lq.open_project
    project.import_file("items.csv", split="seed=200")
    report = project.run()
    labels = project.to_dataframe()

Extensions (annotator types, policies, aggregation methods, task kinds) come from
:mod:`labelquorum.plugins`: a package's entry points, or :func:`register` from Python.
"""

from .config import Config, load_config, parse_config
from .errors import (
    AnnotatorError,
    ConfigError,
    ExportError,
    ImportDataError,
    LabelquorumError,
    MissingExtraError,
    PluginError,
    PolicyError,
    ProjectError,
    StoreError,
)
from .plugins import register
from .project import Project, init_project, open_project
from .run import RunReport
from .task import Task

__version__ = "0.1.0"

__all__ = [
    "AnnotatorError",
    "Config",
    "ConfigError",
    "ExportError",
    "ImportDataError",
    "LabelquorumError",
    "MissingExtraError",
    "PluginError",
    "PolicyError",
    "Project",
    "ProjectError",
    "RunReport",
    "StoreError",
    "Task",
    "__version__",
    "init_project",
    "load_config",
    "open_project",
    "parse_config",
    "register",
]
