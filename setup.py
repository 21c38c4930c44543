"""Every package under the mapped folders, found rather than listed, so a new folder cannot be left out of a wheel.

pyproject.toml maps each top-level folder into the `facegrid` namespace ([tool.setuptools.package-dir]);
setuptools' own `find` cannot add that prefix, so the packages are found here, under each folder.
"""

from setuptools import find_packages, setup

FOLDERS = {
    "facegrid.encoder": "encoder",
    "facegrid.index": "index",
    "facegrid.server": "server",
    "facegrid.clients": "clients",
    "facegrid.evaluation": "evaluation",
    "facegrid.bench": "bench",
    "facegrid.v1": "proto/facegrid/v1",
}


def packages() -> list[str]:
    """Each mapped package and every package inside its folder, under its facegrid name."""
    found = []
    for name, folder in FOLDERS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return found


setup(packages=packages())
