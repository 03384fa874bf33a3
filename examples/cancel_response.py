"""Cancel a spoken answer from the response loop (API doc: "Cancel Response", single agent).

Calls ``cancel_response()`` once the first agent has sent a few audio chunks;
the next agent starts by itself and ``response.done`` still ends the loop.
No sound card needed: audio chunks are only counted.

    python examples/cancel_response.py --after-chunks 5
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
        project=args.project, uuid=args.uuid, executor_dict=executor_dict
    ) as vc:
        await vc.send_text_query(args.text)
        chunks: dict[str, int] = {}
        role = None
        cancelled = False
        async for response in vc.get_responses():
            if response.get("type") == "response.text.delta" and response["role"] != role:
                role = response["role"]
                print(f"[{role}] speaking")
            if response.get("type") == "response.audio.delta":
                chunks[role or ""] = chunks.get(role or "", 0) + 1
                if not cancelled and chunks[role or ""] >= args.after_chunks:
                    print(f"[{role}] cancelled after {args.after_chunks} audio chunks")
                    await vc.cancel_response()
                    cancelled = True
            if response.get("type") == "response.done":
                skipped = response.get("metadata", {}).get("skipped", [])
                print(f"done; skipped: {', '.join(skipped) or 'none'}")


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    add_session_args(p, "advisor-flow", ADVISOR_YAML)
    p.add_argument("--text", default="How can I protect my investments?", help="the question")
    p.add_argument("--after-chunks", type=int, default=3, help="audio chunks before cancelling")
    sys.exit(run(main, p.parse_args()))
