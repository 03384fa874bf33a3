"""Type a question, hear the answer (API doc: "send_text_and_respond").

python examples/speak_answer.py --text "What is a bond?"
python examples/speak_answer.py --audio file::answer.wav   # headless: answer to a WAV
"""

from __future__ import annotations

import argparse
import sys

from example_cli import (
    VOICE_YAML,
    add_audio_args,
    add_session_args,
    ensure_project,
    make_client,
    parser,
    run,
)


async def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    ensure_project(client, args.project, args.config)
    async with client.realtime_distiller(
        project=args.project, uuid=args.uuid, project_version=args.project_version
    ) as vc:
        await vc.send_text_and_respond(text=args.text, sample_rate=16000)


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    add_session_args(p, "voice-assistant", VOICE_YAML)
    add_audio_args(p)
    p.add_argument("--text", default="What is a bond?", help="the question")
    sys.exit(run(main, p.parse_args()))
