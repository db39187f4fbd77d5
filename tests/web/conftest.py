import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("fastapi")

from helpers import Session, add_users, make_project


@pytest.fixture
def project(tmp_path):
    p = make_project(tmp_path / "proj", n=12, overlap=2)
    add_users(p, {"ann": "annotator", "bob": "annotator", "cat": "annotator",
                  "rev": "reviewer", "adm": "admin"})
    yield p
    p.close()


@pytest.fixture
def app(project):
    from labelquorum.web import create_app

    return create_app(project)


@pytest.fixture
def session(app):
    return lambda name: Session(app, name)
