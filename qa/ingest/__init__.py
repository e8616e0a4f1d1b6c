"""Ingestion: from files on disk to chunks in the index.

Reading files (text, HTML, PDF, office formats) and removing page clutter, the article's
metadata, chunking, wire copies (duplicates), the ingestor that embeds and stores chunks, and
the upload library of the web app.

May import: ``qa.settings``, ``qa.types``, ``qa.errors``, ``qa.text``, ``qa.offline``,
``qa.safety`` and ``vectorstore``. Never ``qa.answer``, ``qa.serve``, ``qa.eval`` or
``qa.assistant``.
"""
