"""Skip agents with the spacebar (API doc: "Cancel Response", multi-agent example).

The advisor flow has three agents; each SPACE skips the one speaking and the
next one starts by itself. The "Market Data" agent runs here, through
``executor_dict``.

    python examples/cancel_example.py
"""

from __future__ import annotations

import argparse
import sys

from advisor_executors import executor_dict
from example_cli import (
    ADVISOR_YAML,
    add_audio_args,
    add_session_args,
    ensure_project,
    make_client,
    parser,
    run,
)

from protocol import realtime_helper


async def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    ensure_project(client, args.project, args.config)
    async with client.realtime_distiller(
        project=args.project,
        uuid=args.uuid,
        executor_dict=executor_dict,
        project_version=args.project_version,
    ) as vc:
        print("Press [SPACE] to skip the current agent...")
        async with realtime_helper.CancelOnKeypress() as cancel_event:
            await vc.send_text_and_respond(
                text=args.text,
                sample_rate=16000,
                cancel_event=cancel_event,
            )


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    add_session_args(p, "advisor-flow", ADVISOR_YAML)
    add_audio_args(p)
    p.add_argument("--text", default="How can I protect my investments?", help="the question")
    sys.exit(run(main, p.parse_args()))
