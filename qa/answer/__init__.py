"""Answering: from a question to a cited answer.

Retrieval (dense + BM25), question analysis, evidence sentences, the fitted reader and the
extractive answerer, the LLM client and its prompts, citations and their verification against
the files, claim checks and attribution, conversations, and the answering steps the
``Assistant`` runs (``steps_extractive``, ``steps_llm``, ``finishing``).

May import: ``qa.settings``, ``qa.types``, ``qa.errors``, ``qa.text``, ``qa.offline``,
``qa.safety``, ``qa.ingest.documents`` (to read the cited file back) and ``vectorstore``.
Never ``qa.serve``, ``qa.eval`` or ``qa.assistant``.
"""
