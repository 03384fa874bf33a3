"""The load floor: a bare ``websockets`` server answering each query with one text
delta and a done frame, no engine behind it. Run by `bench.load` as a child process:
``python -m bench.echo_floor_server PORT``; prints "ready" once it listens.
"""

from __future__ import annotations

import asyncio
import json
import sys

from websockets.asyncio.server import ServerConnection, serve


async def answer(ws: ServerConnection) -> None:
    await ws.send(json.dumps({"type": "session.created", "session": {}}))
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "input_text":
            continue
        await ws.send(json.dumps({"type": "response.created"}))
        await ws.send(
            json.dumps({"type": "response.text.delta", "content": frame["text"], "role": "Echo"})
        )
        await ws.send(json.dumps({"type": "response.text.done"}))
        await ws.send(json.dumps({"type": "response.done", "metadata": {}}))


async def main(port: int) -> None:
    async with serve(answer, "127.0.0.1", port, ping_interval=None, max_size=2**24):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(65536, hard), hard))
    asyncio.run(main(int(sys.argv[1])))
