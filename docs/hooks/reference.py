"""MkDocs hook: the reference pages are generated from the code at build time.

``reference/config.md`` walks the config models (every key, its type, its default and the
attribute docstring written under it in the code) and ``reference/cli.md`` walks the Typer
app (every command, argument and option with its help). Nothing here is written by hand, so
the reference cannot drift from what the code accepts.
"""

from __future__ import annotations

from mkdocs.structure.files import File

from labelquorum.docgen import cli_reference, config_reference

PAGES = {"reference/config.md": config_reference, "reference/cli.md": cli_reference}


def on_files(files, config):
    for uri, build in PAGES.items():
        old = files.get_file_from_path(uri)
        if old is not None:
            files.remove(old)
        files.append(File.generated(config, uri, content=build()))
    return files
