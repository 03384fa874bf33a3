"""Hands-free in a simulated room: false and true barge-ins, echo cancellation, CPU.

    python -m bench.room [--minutes M] [--interrupts N] [--modes client_aec,raw_mic,baseline]

For each echo setting, a real server (echo LLM, real Whisper/Silero/Piper)
and our audio actor on a simulated room (bench/room_call.py) hold turns in
which the assistant reads a long answer and the scripted user stays silent
(false barge-ins per minute of assistant speech), says "uh-huh" (must not
interrupt) or truly interrupts with espeak-ng's voice (detected?, onset to
`response.interrupted`). Three client/server pairings, from the same run:

* ``client_aec``: our client cleans its microphone (and reports playback);
* ``raw_mic``: the raw microphone, no playback events (the published SDK);
  the server cancels its own voice;
* ``baseline``: the raw microphone with the server's canceller off
  (DISTILLER_SERVER_AEC=0): without a canceller the barge-in policy
  (server/barge_in.py) trusts words only, the word-filter baseline; the other
  modes run the server as shipped (canceller on).

Also the client canceller's ERLE after convergence and its CPU per core at
16 kHz, and the server canceller's CPU. Other work on the machine slows the
recogniser and so the onset times; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from app.engine import EngineProcess
from audio.echo import EchoCanceller, load_processor
from bench.common import create_project, print_table, wait_models_ready, write_results, ws_url
from bench.room_call import RATE, TurnResult, room_turn, voice_project
from bench.room_sim import EchoSetting, apply_echo, erle_db, espeak, impulse_response, piper
from server.speech.echo import SWITCH_ENV, SentAudio, ServerEchoCanceller
from server.speech.vad import load_vad

ANSWERS = (
    "The quarterly report shows that revenue grew by twelve percent while costs stayed flat. "
    "We expect the trend to continue into next year, with new markets opening in Asia and "
    "Europe. The board will meet again in March to review the plan and the hiring budget.",
    "To reset the router, hold the small button on the back for ten seconds until the lights "
    "blink. Then wait two minutes, connect to the network named on the label, and open the "
    "setup page in your browser to choose a new password for the wireless network.",
    "Tomorrow will start cloudy with light rain in the morning, clearing by noon. The "
    "afternoon stays mild at around eighteen degrees, with a gentle breeze from the west, "
    "and the evening should be dry, so it is a good day for a walk after work.",
)
INTERRUPTIONS = (
    "Stop, what is the weather like in Paris tomorrow?",
    "Wait, how long does the train to Berlin take?",
    "Hold on, can you book a table for four at seven?",
)
SETTINGS = (EchoSetting(120, -12.0), EchoSetting(200, 0.0))
MODES = {"client_aec": True, "raw_mic": False, "baseline": False}


@contextlib.contextmanager
def server_for(mode: str) -> Iterator[Any]:
    previous = os.environ.get(SWITCH_ENV)
    if mode == "baseline":
        os.environ[SWITCH_ENV] = "0"
    else:
        os.environ.pop(SWITCH_ENV, None)  # as shipped: on
    # As bench.common.running_server, with the engine's info log kept: its barge-in decisions.
    data_dir = Path(tempfile.mkdtemp(prefix="rd-room-"))
    server = EngineProcess(data_dir, provider="echo", log_level="info")
    try:
        server.start(timeout=60)
        wait_models_ready(server, ("vad", "asr", "tts"), 300.0)
        yield server
    finally:
        server.stop()
        os.environ.pop(SWITCH_ENV, None)
        if previous is not None:
            os.environ[SWITCH_ENV] = previous


def decisions(server: Any, seen: list[int]) -> list[str]:
    """The engine's barge-in log lines written since the last call (`seen`: bytes read)."""
    log = Path(server.log_path)
    if not log.exists():
        return []
    with log.open("rb") as file:
        file.seek(seen[0])
        new = file.read()
    seen[0] += len(new)
    lines = new.decode(errors="replace").splitlines()
    return [line.split("barge-in: ", 1)[1] for line in lines if "barge-in: " in line]


async def run_mode(server: Any, mode: str, minutes: float, interrupts: int) -> dict[str, Any]:
    create_project(server, "room", voice_project())
    client_aec = MODES[mode]
    backchannel = espeak("uh-huh", RATE)
    users = [espeak(text, RATE) for text in INTERRUPTIONS]
    per_setting = {}
    seen = [0]
    for setting in SETTINGS:
        silent: list[TurnResult] = []
        seed = 0
        while sum(r.assistant_s for r in silent) < minutes * 60:
            answer = ANSWERS[seed % len(ANSWERS)]
            silent.append(
                await room_turn(
                    ws_url(server, "room"),
                    setting,
                    answer,
                    "silent",
                    None,
                    client_aec=client_aec,
                    seed=seed,
                )
            )
            seed += 1
        backchannels = [
            await room_turn(
                ws_url(server, "room"),
                setting,
                ANSWERS[i],
                "backchannel",
                backchannel,
                client_aec=client_aec,
                seed=100 + i,
            )
            for i in range(2)
        ]
        for line in decisions(server, seen):  # silent and backchannel turns: none expected
            print(f"  {mode} {setting.label} without an interruption: {line}", flush=True)
        true_turns, why = [], []
        for i in range(interrupts):
            turn = await room_turn(
                ws_url(server, "room"),
                setting,
                ANSWERS[i % len(ANSWERS)],
                "interrupt",
                users[i % len(users)],
                client_aec=client_aec,
                seed=200 + i,
            )
            true_turns.append(turn)
            onset = turn.onset_to_interrupt_s
            for line in decisions(server, seen):
                why.append(f"{'-' if onset is None else f'{onset:.2f}'} s: {line}")
                print(f"  {mode} {setting.label} onset->interrupted {why[-1]}", flush=True)
        per_setting[setting.label] = {
            "false_barge_ins": sum(r.interrupted for r in silent),
            "minutes": sum(r.assistant_s for r in silent) / 60,
            "backchannel_interrupts": sum(r.interrupted for r in backchannels),
            "true_detected": sum(r.onset_to_interrupt_s is not None for r in true_turns),
            # interrupted before the user said a word: a false barge-in too
            "early_interrupts": sum(
                r.interrupted and r.onset_to_interrupt_s is None for r in true_turns
            ),
            "true_total": len(true_turns),
            "onsets": [r.onset_to_interrupt_s for r in true_turns if r.onset_to_interrupt_s],
            "load_avg": os.getloadavg()[0],
            "decisions": why,
        }
        print(mode, setting.label, per_setting[setting.label], flush=True)
    return per_setting


def client_canceller_numbers(setting: EchoSetting) -> tuple[float, float]:
    """(ERLE after 2 s, CPU share of one core) of the client canceller at 16 kHz."""
    far = np.concatenate([piper(text, RATE) for text in ANSWERS])
    echo = apply_echo(far, impulse_response(RATE, setting))
    mic = np.clip(np.round(echo), -32768, 32767).astype(np.int16)
    canceller = EchoCanceller(load_processor(RATE, False), RATE, RATE, RATE, 0.04)
    block = RATE // 50
    out = []
    started = time.process_time()
    for i in range(0, len(mic) - block + 1, block):
        canceller.far(far[i : i + block])
        out.append(canceller.near(mic[i : i + block]))
    cpu = (time.process_time() - started) / (len(mic) / RATE)
    cleaned = np.concatenate(out).astype(np.float64)
    end = min(len(cleaned), len(echo))
    return erle_db(echo[2 * RATE : end], cleaned[2 * RATE : end]), cpu


def server_canceller_cpu(setting: EchoSetting) -> float:
    far = np.concatenate([piper(text, RATE) for text in ANSWERS])
    mic = np.clip(np.round(apply_echo(far, impulse_response(RATE, setting))), -32768, 32767)
    canceller = ServerEchoCanceller(RATE, SentAudio(RATE), vad=load_vad())  # as a session
    canceller.reference.sent(far.tobytes(), now=1000.0)
    step = RATE // 10
    started = time.process_time()
    for i in range(0, len(mic) - step + 1, step):
        chunk = mic[i : i + step].astype("<i2").tobytes()
        canceller.arrived(chunk, now=1000.0 + (i + step) / RATE)
        canceller.clean(chunk)
    return (time.process_time() - started) / (len(mic) / RATE)


def totals(per_setting: dict[str, Any]) -> dict[str, Any]:
    onsets = [o for s in per_setting.values() for o in s["onsets"]]
    total = sum(s["true_total"] for s in per_setting.values())
    return {
        "false_barge_ins": sum(s["false_barge_ins"] for s in per_setting.values()),
        "minutes": sum(s["minutes"] for s in per_setting.values()),
        "true_detected": sum(s["true_detected"] for s in per_setting.values()) / max(1, total),
        "onset_p50": statistics.median(onsets) if onsets else float("nan"),
        "backchannel_interrupts": sum(s["backchannel_interrupts"] for s in per_setting.values()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes",
        type=float,
        default=5.0,
        help="minutes of assistant speech with a silent user, per setting and mode",
    )
    parser.add_argument("--interrupts", type=int, default=6, help="true barge-ins per setting")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES)
    )
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")

    results: dict[str, Any] = {"settings": [s.label for s in SETTINGS]}
    for mode in modes:
        with server_for(mode) as server:
            results[mode] = asyncio.run(run_mode(server, mode, args.minutes, args.interrupts))
    erle = {}
    cpu = {}
    for setting in SETTINGS:
        erle[setting.label], cpu[setting.label] = client_canceller_numbers(setting)
    server_cpu = server_canceller_cpu(SETTINGS[-1])
    results["client_erle_db"] = erle
    results["client_cpu_per_core"] = cpu
    results["server_cpu_per_core"] = server_cpu

    summary = {mode: totals(results[mode]) for mode in modes}
    print_table(
        "room: onset to response.interrupted, per mode (all echo settings)",
        {
            f"{mode}: false {t['false_barge_ins']}/{t['minutes']:.1f} min, "
            f"true {t['true_detected']:.2f}, backch {t['backchannel_interrupts']}": [
                o for s in results[mode].values() for o in s["onsets"]
            ]
            for mode, t in summary.items()
        },
    )
    for label in erle:
        print(
            f"client canceller {label}: ERLE {erle[label]:.1f} dB, "
            f"CPU {100 * cpu[label]:.2f} % of a core"
        )
    print(f"server canceller: CPU {100 * server_cpu:.2f} % of a core per session")
    results["summary"] = summary
    write_results("room", results)
    ours = [m for m in ("client_aec", "raw_mic") if m in modes]
    if ours:
        onsets = [o for m in ours for s in results[m].values() for o in s["onsets"]]
        detected = sum(s["true_detected"] for m in ours for s in results[m].values())
        total = sum(s["true_total"] for m in ours for s in results[m].values())
        print(
            f"room false_barge_ins={sum(summary[m]['false_barge_ins'] for m in ours)} "
            f"minutes={sum(summary[m]['minutes'] for m in ours):.1f} "
            f"true_detected={detected / max(1, total):.2f} "
            f"onset_p50={statistics.median(onsets) if onsets else float('nan'):.2f} "
            f"erle_db={min(erle.values()):.1f}"
        )
    if "baseline" in summary:
        base = summary["baseline"]
        print(
            f"room_baseline false_barge_ins={base['false_barge_ins']} "
            f"minutes={base['minutes']:.1f} true_detected={base['true_detected']:.2f} "
            f"onset_p50={base['onset_p50']:.2f}"
        )


if __name__ == "__main__":
    main()
