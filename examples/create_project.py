"""Register a project from its YAML configuration (API doc: "Creating Your Project").

python examples/create_project.py --config examples/advisor_flow.yaml --project advisor-flow
"""

from __future__ import annotations

import argparse
import sys

from example_cli import ADVISOR_YAML, make_client, parser, run


def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    # The document's call, unchanged:
    client.realtime_distiller.create_project(config_path=args.config, project=args.project)
    latest = client.realtime_distiller.list_versions(args.project)[-1]
    print(f"Project '{args.project}' created: version {latest.version}")


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ADVISOR_YAML), help="project YAML")
    p.add_argument("--project", default="advisor-flow", help="project name (default %(default)s)")
    sys.exit(run(main, p.parse_args()))
