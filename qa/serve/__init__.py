"""Serving: the web app's handlers, the OpenAI-compatible ``/v1`` API, the command line's route
to a running server (``ask_api`` there, ``client`` in the command) and the login gate.

Everything here works through the ``Assistant`` facade (``qa.assistant``) and the shared
types; it holds no answering logic of its own. Nothing outside ``qa.serve`` (but ``app.py``
and ``qa.cli``) imports it.
"""
