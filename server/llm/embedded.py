"""The embedded provider: Gemma 3 270M (a tiny base model) run in-process by llama.cpp.

A base model does not follow instructions; it continues text. So the prompt is
a transcript that already shows the agent answering briefly, and generation
stops where the transcript would move on to the user's next line. Generation
runs in a worker thread that hands tokens to the event loop through a queue;
one lock serialises all use of the shared model, and closing the stream stops
the worker after its current token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, Protocol

from server.llm.base import HistoryTurn, LLMError, LLMRequest, LLMSettings
from server.llm.prompting import pick_choice
from server.llm.read_ahead import DEMAND, count_answer, read_ahead, tokenize
from server.model_loading import ModelLoadError

log = logging.getLogger(__name__)

MAX_SENTENCES = 3  # answers are spoken: stop after three sentences even if the model rambles
MAX_TEMPERATURE = 0.5  # above this the 270M model drifts into nonsense; higher asks are capped
MAX_HISTORY_TURNS = 8
MAX_TURN_CHARS = 400
_SAMPLING = {"top_k": 40, "top_p": 0.9, "repeat_penalty": 1.1}
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s|$)""")
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    {"and", "are", "about", "can", "could", "does", "for", "from", "how", "please", "the"}
    | {"what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your"}
    | {"answer", "answers", "question", "questions", "agent", "help", "tell", "about", "need"}
)

_EXAMPLES = (
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is the boiling point of water?", "Water boils at one hundred degrees Celsius."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote it, around 1595."),
)

_DONE = object()


class LlamaSource(Protocol):
    """Where the shared model comes from (the process's `server.models.ModelRegistry`)."""

    llm_lock: threading.Lock
    """Held while anyone runs the shared Llama: llama.cpp contexts are not thread-safe."""

    def llm_model(self, model: str = "") -> Any:
        """The loaded ``llama_cpp.Llama``; raises `ModelLoadError`."""
        ...


class EmbeddedProvider:
    """Streams answers from the bundled GGUF model (or ``llm_config.model``: a .gguf path)."""

    name = "embedded"

    def __init__(self, registry: LlamaSource, settings: LLMSettings) -> None:
        self._registry = registry
        self._settings = settings

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield the agent's answer piece by piece; `aclose()` stops generation promptly."""
        stop = threading.Event()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def emit(item: object) -> None:
            if stop.is_set():
                return  # nobody is listening any more
            with contextlib.suppress(RuntimeError):  # the loop closed under us: same thing
                loop.call_soon_threadsafe(queue.put_nowait, item)

        worker = threading.Thread(
            target=self._generate,
            args=(request, stop, emit),
            name=f"llm-{request.agent_name}",
            daemon=True,
        )
        worker.start()
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield str(item)
        finally:
            stop.set()  # the worker checks this after every token and releases the model

    async def warm(self, request: LLMRequest) -> None:
        """Read the conversation so far into the model while the user is still speaking, so
        that answering reads only the question (`server.llm.read_ahead`)."""
        try:
            await asyncio.to_thread(self._read_ahead, request)
        except Exception as exc:  # best effort: the answer itself reports any real failure
            log.debug("reading ahead for %s failed: %s", request.agent_name, exc)

    def _read_ahead(self, request: LLMRequest) -> None:
        llama = self._model()  # (tokenizing reads only the vocabulary: no lock needed)
        head = prompt_head(request, _fit(llama, request)[0])
        read_ahead(llama, self._registry.llm_lock, head)

    async def choose(self, query: str, options: list[tuple[str, str]]) -> str:
        """The name of the option whose description best fits ``query``.

        Word overlap decides when it clearly can (the tiny model is easily
        distracted); otherwise the model picks, constrained by a grammar to
        answer with exactly one of the names.
        """
        if not options:
            raise LLMError("choose() needs at least one (name, description) option")
        if len(options) == 1:
            return options[0][0]
        lexical = _best_by_overlap(query, options)
        if lexical is not None:
            return lexical
        try:
            answer = await asyncio.to_thread(self._choose_with_model, query, options)
        except (LLMError, ModelLoadError):
            return options[0][0]
        return pick_choice(answer, options)

    # -- worker-thread side ---------------------------------------------------

    def _generate(
        self, request: LLMRequest, stop: threading.Event, emit: Callable[[object], None]
    ) -> None:
        try:
            llama = self._model()
            with DEMAND.wanted(), self._registry.llm_lock:
                if stop.is_set():
                    return
                history, tokens = _fit(llama, request)
                prompt = build_prompt(request, history)
                count_answer(llama, tokens)
                tidy = _Tidier()
                with contextlib.closing(self._completion(llama, prompt, request)) as pieces:
                    for piece in pieces:
                        text = tidy.feed(piece)
                        if text:
                            emit(text)
                        if stop.is_set() or tidy.sentences >= MAX_SENTENCES:
                            break
        except LLMError as exc:
            emit(exc)
        except Exception as exc:
            emit(LLMError(f"embedded model failed while answering as {request.agent_name}: {exc}"))
        finally:
            emit(_DONE)

    def _completion(self, llama: Any, prompt: str, request: LLMRequest) -> Generator[str]:
        chunks = llama.create_completion(
            prompt,
            max_tokens=max(1, request.max_tokens),
            temperature=min(max(0.0, request.temperature), MAX_TEMPERATURE),
            stop=_stop_sequences(request.agent_name),
            stream=True,
            **_SAMPLING,
        )
        try:
            for chunk in chunks:
                yield chunk["choices"][0]["text"]
        finally:
            chunks.close()  # ends llama.cpp's generation loop at once

    def _choose_with_model(self, query: str, options: list[tuple[str, str]]) -> str:
        from llama_cpp import LlamaGrammar

        llama = self._model()
        grammar = LlamaGrammar.from_string(
            "root ::= " + " | ".join(json.dumps(" " + name) for name, _ in options),
            verbose=False,
        )
        listing = "\n".join(f"- {name}: {description}" for name, description in options)
        prompt = (
            "Pick the agent best suited to answer the question.\n\n"
            f"Agents:\n{listing}\n\nQuestion: {_one_line(query)}\nAgent:"
        )
        with DEMAND.wanted(), self._registry.llm_lock:
            result = llama.create_completion(
                prompt, max_tokens=32, temperature=0.0, grammar=grammar
            )
        return str(result["choices"][0]["text"])

    def _model(self) -> Any:
        # Hosted projects name hosted models ("meta-llama/..."); only a .gguf path replaces ours.
        model = self._settings.model if self._settings.model.endswith(".gguf") else ""
        try:
            return self._registry.llm_model(model)
        except ModelLoadError as exc:
            raise LLMError(str(exc)) from exc


# -- prompt -----------------------------------------------------------------------


def build_prompt(request: LLMRequest, history: tuple[HistoryTurn, ...] | None = None) -> str:
    """A transcript that shows ``agent_name`` answering briefly, ending where it answers."""
    return f"{prompt_head(request, history)} {_one_line(request.query)}\n{_speaker(request)}:"


def prompt_head(request: LLMRequest, history: tuple[HistoryTurn, ...] | None = None) -> str:
    """The prompt up to where the user's question goes: all of it that does not depend on
    the question, so it can be read ahead (`server.llm.read_ahead`)."""
    agent = _speaker(request)
    header = f"This is a conversation with {agent}, a voice assistant."
    if request.instructions:
        header += f" {_one_line(request.instructions)}"
    header += f" {agent} always answers in one to three short sentences."
    blocks = [header]
    blocks += [f"User: {question}\n{agent}: {answer}" for question, answer in _EXAMPLES]
    turns = request.history[-MAX_HISTORY_TURNS:] if history is None else history
    lines = []
    for turn in turns:
        text = _one_line(turn.text)[:MAX_TURN_CHARS]
        if turn.role == "user":
            lines.append(f"User: {text}")
        else:
            speaker = _one_line(turn.agent) or agent
            lines.append(f"{speaker}: {text}{' (interrupted)' if turn.cut else ''}")
    if lines:
        blocks.append("\n".join(lines))
    if request.context:
        notes = "\n".join(
            f"({_one_line(name)} said: {_one_line(text)[:MAX_TURN_CHARS]})"
            for name, text in request.context
        )
        blocks.append(notes)
    blocks.append("User:")
    return "\n\n".join(blocks)


def _speaker(request: LLMRequest) -> str:
    """The name the transcript gives the answering agent."""
    return _one_line(request.agent_name) or "Assistant"


def _fit(llama: Any, request: LLMRequest) -> tuple[tuple[HistoryTurn, ...], list[int]]:
    """The most recent history that leaves the prompt inside the context window, and that
    prompt's tokens."""
    budget = llama.n_ctx() - max(1, request.max_tokens) - 8
    history = request.history[-MAX_HISTORY_TURNS:]
    while True:
        tokens = tokenize(llama, build_prompt(request, history))
        if len(tokens) <= budget:
            return history, tokens
        if not history:
            raise LLMError(
                f"the query for {request.agent_name} is too long for the embedded model's "
                f"{llama.n_ctx()}-token context; shorten it or lower max_tokens"
            )
        history = history[1:]


def _stop_sequences(agent: str) -> list[str]:
    """Where the transcript moves on: a new line, or the user's turn written inline."""
    return ["\n", "User:", f" {_one_line(agent)}:"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Tidier:
    """Cleans streamed model text: no leading or trailing whitespace, no runs of blanks.

    Trailing whitespace is held back until more text follows, so the stream
    never ends in a space and the pieces concatenate to the tidy answer.
    """

    def __init__(self) -> None:
        self._started = False
        self._held = ""
        self._text = ""

    @property
    def sentences(self) -> int:
        return len(_SENTENCE_END.findall(self._text))

    def feed(self, piece: str) -> str:
        piece = re.sub(r"\s+", " ", piece)
        if not self._started:
            piece = piece.lstrip()
            if not piece:
                return ""
            self._started = True
        body = piece.rstrip(" ")
        if not body:
            self._held = " "
            return ""
        out = (self._held if not body.startswith(" ") else "") + body
        self._held = " " if piece.endswith(" ") else ""
        self._text += out
        return out


# -- routing by word overlap ---------------------------------------------------


def _best_by_overlap(query: str, options: list[tuple[str, str]]) -> str | None:
    """The option sharing the most content words with the query, if exactly one does best."""
    query_stems = _stems(query)
    if not query_stems:
        return None
    scores = [(len(query_stems & _stems(f"{n} {d}")), n) for n, d in options]
    best = max(score for score, _ in scores)
    winners = [name for score, name in scores if score == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


def _stems(text: str) -> set[str]:
    """Content words cut to five letters, so "forecast" meets "forecasts"."""
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and len(w) > 2}
