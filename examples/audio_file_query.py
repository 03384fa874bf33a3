"""Stream a WAV file as the voice query (API doc: "Audio Input", "Response Stream").

Sends the file in 100 ms chunks with ``send_audio_chunk``, then
``commit_audio``, prints the transcript and the answer, and writes the
answer's audio to a WAV. No sound card needed.

    python examples/audio_file_query.py question.wav --out answer.wav
"""

from __future__ import annotations

import argparse
import base64
import sys
import wave

from example_cli import VOICE_YAML, add_session_args, ensure_project, make_client, parser, run

CHUNK_SECONDS = 0.1


def read_pcm16_mono(path: str, sample_rate: int) -> bytes:
    with wave.open(path, "rb") as wav:
        if (wav.getsampwidth(), wav.getnchannels(), wav.getframerate()) != (2, 1, sample_rate):
            raise ValueError(f"{path} must be 16-bit mono PCM at {sample_rate} Hz")
        return wav.readframes(wav.getnframes())


async def main(args: argparse.Namespace) -> None:
    client = make_client(args)
    ensure_project(client, args.project, args.config)
    async with client.realtime_distiller(project=args.project, uuid=args.uuid) as vc:
        pcm = read_pcm16_mono(args.wav, vc.sample_rate)
        step = int(vc.sample_rate * CHUNK_SECONDS) * 2
        for start in range(0, len(pcm), step):
            await vc.send_audio_chunk(pcm[start : start + step])
        await vc.commit_audio()
        answer = bytearray()
        async for response in vc.get_responses():
            kind = response.get("type")
            if kind == "response.audio_transcript.done":
                print(f"You: {response['text']}")
            elif kind == "response.text.delta":
                print(response["content"], end="", flush=True)
            elif kind == "response.audio.delta":
                answer += base64.b64decode(response["audio"])
        print()
    if args.out:
        with wave.open(args.out, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(vc.sample_rate)
            out.writeframes(bytes(answer))
        print(f"answer audio: {len(answer) / 2 / vc.sample_rate:.1f} s -> {args.out}")


if __name__ == "__main__":
    p = parser(__doc__.splitlines()[0])
    p.add_argument("wav", help="the question: 16-bit mono WAV at the project's sample rate")
    p.add_argument("--out", default=None, help="write the answer's audio to this WAV")
    add_session_args(p, "voice-assistant", VOICE_YAML)
    sys.exit(run(main, p.parse_args()))
