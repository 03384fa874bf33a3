"""Download a project's configuration (API doc: "Downloading Your Project Configuration").

python examples/download_project.py --project advisor-flow --project-version 0
"""

from __future__ import annotations

import argparse
import sys

import yaml
from example_cli import make_client, parser, run


def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    project_config = client.realtime_distiller.download_project(
        project=args.project, project_version=args.project_version
    )
    print(yaml.safe_dump(project_config, sort_keys=False, allow_unicode=True), end="")


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--project", default="advisor-flow", help="project name (default %(default)s)")
    p.add_argument("--project-version", default=None, help="version (default: latest)")
    sys.exit(run(main, p.parse_args()))
