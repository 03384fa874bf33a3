"""Prompt pieces shared by chat-style providers."""

from __future__ import annotations

from server.llm.base import LLMRequest


def system_prompt(request: LLMRequest) -> str:
    """The agent's persona: its name, its instructions, and to be brief (it is spoken)."""
    lines = [f"You are {request.agent_name}, one agent of a voice assistant."]
    if request.instructions:
        lines.append(request.instructions)
    lines.append("Answer in one to three short sentences; your words are spoken aloud.")
    return "\n".join(lines)


def chat_messages(request: LLMRequest) -> list[dict[str, str]]:
    """OpenAI-style messages: persona, recent history, predecessors' outputs, the query."""
    messages = [{"role": "system", "content": system_prompt(request)}]
    for turn in request.history:
        text = turn.text + (" [cut off: the user skipped the rest]" if turn.cut else "")
        messages.append({"role": turn.role, "content": text})
    query = request.query
    if request.context:
        notes = "\n".join(f"{name} said: {text}" for name, text in request.context)
        query = f"{notes}\n\nUser question: {query}"
    messages.append({"role": "user", "content": query})
    return messages


def pick_choice(answer: str, options: list[tuple[str, str]]) -> str:
    """The option named in a model's answer (longest name first), else the first option."""
    lowered = answer.lower()
    for name, _ in sorted(options, key=lambda o: -len(o[0])):
        if name.lower() in lowered:
            return name
    return options[0][0]
