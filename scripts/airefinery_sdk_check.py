"""Drive our server with the published AI Refinery SDK, unchanged (needs Python 3.12+).

    python3.12 -m venv /tmp/air && /tmp/air/bin/pip install airefinery-sdk
    /tmp/air/bin/python scripts/airefinery_sdk_check.py http://127.0.0.1:8765

Creates a project from a YAML file, downloads it, connects with a custom agent
served through ``executor_dict``, sends a text query and reads the whole
response. Prints what it saw and exits non-zero if anything is missing.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from air import AsyncAIRefinery

CONFIG = """
orchestrator:
  agent_list:
    - agent_name: "Advisor Flow"
utility_agents:
  - agent_class: SearchAgent
    agent_name: "Researcher"
    agent_description: "Researches the question"
    config: {}
  - agent_class: CustomAgent
    agent_name: "Market Data"
    agent_description: "Market data from the client"
    config: {}
super_agents:
  - agent_class: FlowSuperAgent
    agent_name: "Advisor Flow"
    agent_description: "Research, then market data"
    config:
      goal: "Advise"
      agent_list:
        - agent_name: "Researcher"
          next_step: ["Market Data"]
        - agent_name: "Market Data"
base_config:
  llm_config:
    provider: echo
speech_config:
  sample_rate: 16000
"""


def market_data(query: str) -> str:
    return f"Market data for: {query}"


async def main(base_url: str) -> int:
    config_path = Path("/tmp/airefinery_sdk_check.yaml")
    config_path.write_text(CONFIG)
    client = AsyncAIRefinery(api_key="sdk-check-key", base_url=base_url)
    rd = client.realtime_distiller
    assert rd.create_project(config_path=str(config_path), project="sdk-check") is True
    downloaded = rd.download_project(project="sdk-check")
    print("download:", str(downloaded)[:120])
    seen: list[str] = []
    roles: dict[str, str] = {}
    audio_frames = 0
    async with rd(
        project="sdk-check", uuid="sdk-user", executor_dict={"Market Data": market_data}
    ) as vc:
        await vc.send_text_query("price of gold today")
        async for response in vc.get_responses():
            kind = response.get("type")
            seen.append(kind)
            if kind == "response.text.delta":
                roles[response["role"]] = roles.get(response["role"], "") + response["content"]
            elif kind == "response.audio.delta":
                audio_frames += 1
        await vc.cancel_response()  # no response active: must be a no-op
    print("events:", sorted(set(seen)))
    print("agents:", roles)
    print("audio frames:", audio_frames)
    ok = (
        seen.index("response.created") < seen.index("response.text.delta")
        and seen[-1] == "response.done"
        and roles.get("Researcher") == "price of gold today"
        and roles.get("Market Data") == "Market data for: price of gold today"
        and audio_frames > 0
    )
    print("AI Refinery SDK check:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8765")))
