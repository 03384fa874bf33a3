"""The client side of the advisor flow's custom agent "Market Data".

A CustomAgent runs on the client: the server sends the agent's query, the
SDK calls the function registered for it in ``executor_dict`` and sends the
result back. This one answers from a fixed snapshot, so the example works
offline and gives the same answer every time; a real one would call a market
data service here. The app imports ``executor_dict`` to serve the same agent.
"""

from __future__ import annotations

# Illustrative figures, not live data: (name, change today in percent).
SNAPSHOT: tuple[tuple[str, float], ...] = (("S&P 500", +0.4), ("Nasdaq", +0.7), ("gold", -0.2))


def market_data(query: str) -> str:
    """Summarise the snapshot in one short sentence a voice can read out."""
    moves = ", ".join(
        f"{name} {'up' if change >= 0 else 'down'} {abs(change):.1f}%" for name, change in SNAPSHOT
    )
    return f"Market snapshot (demo data): {moves}."


# Agent name in advisor_flow.yaml -> the callable that serves it.
executor_dict = {"Market Data": market_data}
