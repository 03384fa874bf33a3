"""Offline speech building blocks for the engine: TTS, ASR, VAD, turn detection, segmenting.

Each model is loaded once per process through `server.models.ModelRegistry`
and shared by every session; the components are blocking and thread-safe so the
session runs them with ``asyncio.to_thread``. Submodules are imported directly
(``from server.speech.tts import TextToSpeech``) so that importing this package
does not load onnxruntime, CTranslate2 or llama.cpp.
"""
