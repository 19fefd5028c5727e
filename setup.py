"""Package discovery for the folder-to-namespace mapping declared in setup.cfg.

setup.cfg maps ``wrapper/``, ``adapters/`` and ``sidecar/`` under ``veneer.``
with ``package_dir``; setuptools' automatic discovery cannot follow such a
mapping, so the package list is computed here from the folders themselves.
"""
import os

from setuptools import setup

ROOTS = {"veneer": "veneer", "veneer.wrapper": "wrapper",
         "veneer.adapters": "adapters", "veneer.sidecar": "sidecar"}


def _packages():
    found = []
    for name, folder in ROOTS.items():
        for path, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                rel = os.path.relpath(path, folder)
                sub = "" if rel == "." else "." + rel.replace(os.sep, ".")
                if name == "veneer" and sub.split(".")[1:2] in (["wrapper"], ["adapters"], ["sidecar"]):
                    continue
                found.append(name + sub)
    return sorted(set(found))


setup(packages=_packages())
