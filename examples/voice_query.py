"""Ask by voice, hear the answer (API doc: "listen_and_respond").

Speaks through the sound card by default. Headless, a WAV file can play the
microphone and the answer is written to another WAV:

    python examples/voice_query.py --audio file:question.wav:answer.wav
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
        print("Listening... ask your question.")
        await vc.listen_and_respond(sample_rate=16000)


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    add_session_args(p, "voice-assistant", VOICE_YAML)
    add_audio_args(p)
    sys.exit(run(main, p.parse_args()))
