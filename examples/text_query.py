"""Send a text query and print the streamed answer (API doc: "Text Input", "Response Stream").

The advisor flow's "Market Data" agent runs here, on the client, through
``executor_dict``.

    python examples/text_query.py --query "How can I protect my investments?"
"""

from __future__ import annotations

import argparse
import sys

from advisor_executors import executor_dict
from example_cli import ADVISOR_YAML, add_session_args, ensure_project, make_client, parser, run


async def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    ensure_project(client, args.project, args.config)
    async with client.realtime_distiller(
        project=args.project,
        uuid=args.uuid,
        executor_dict=executor_dict,
        project_version=args.project_version,
    ) as vc:
        await vc.send_text_query(args.query)
        role = None
        async for response in vc.get_responses():
            if response.get("type") == "response.text.delta":
                if response["role"] != role:  # a new role: the next agent speaks
                    print(f"\n[{response['role']}] " if role else f"[{response['role']}] ", end="")
                    role = response["role"]
                print(response["content"], end="", flush=True)
            elif response.get("type") == "response.done":
                print()


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    add_session_args(p, "advisor-flow", ADVISOR_YAML)
    p.add_argument("--query", default="How can I protect my investments?", help="the question")
    sys.exit(run(main, p.parse_args()))
