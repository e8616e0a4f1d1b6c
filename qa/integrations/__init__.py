"""The assistant inside other frameworks' pipelines: LlamaIndex's retriever and query engine
(``llama_index.py``).

These wrap an assistant passed in (anything with the :class:`qa.Assistant` methods they call)
and import nothing of ``qa.assistant`` themselves, so the ``Assistant`` can offer them as
``as_retriever()`` / ``as_query_engine()``. They may import the shared types and
``qa.answer``.
"""
