"""labelquorum: label datasets with a quorum of annotators — small models, LLMs and people.

The public API::

    import labelquorum as lq
    project = lq.init_project("dir", labels=["negative", "positive"])   # or lq.open_project
    project.import_file("items.csv", split="seed=200")
    report = project.run()
    labels = project.to_dataframe()
"""

from .errors import (
    AnnotatorError,
    ConfigError,
    ExportError,
    ImportDataError,
    LabelquorumError,
    MissingExtraError,
    PolicyError,
    ProjectError,
    StoreError,
)
from .project import Project, init_project, open_project
from .run import RunReport

__version__ = "0.1.0"

__all__ = [
    "AnnotatorError",
    "ConfigError",
    "ExportError",
    "ImportDataError",
    "LabelquorumError",
    "MissingExtraError",
    "PolicyError",
    "Project",
    "ProjectError",
    "RunReport",
    "StoreError",
    "init_project",
    "open_project",
]
