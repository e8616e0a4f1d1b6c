"""The plain LlamaIndex pipeline: SimpleDirectoryReader -> VectorStoreIndex on ChromaVectorStore,
with its default splitter, using the very same embedding model object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vectorstore import Embedder


def _embedding(embedder: Embedder) -> Any:
    from llama_index.core.embeddings import BaseEmbedding

    class Same(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts)

    return Same(model_name=embedder.name, embed_batch_size=32)


def build(folder: Path, index_dir: Path, embedder: Embedder) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Settings, SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.llms import MockLLM
    from llama_index.vector_stores.chroma import ChromaVectorStore

    Settings.llm = MockLLM()
    Settings.embed_model = _embedding(embedder)
    client = chromadb.PersistentClient(path=str(index_dir),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    collection = client.get_or_create_collection("baseline", embedding_function=None)
    store = ChromaVectorStore(chroma_collection=collection)
    documents = SimpleDirectoryReader(str(folder)).load_data()
    return VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store),
        show_progress=False)


def stored_texts(index_dir: Path, collection: str) -> list[str]:
    """Every chunk text of a collection in an on-disk Chroma index."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(index_dir),
                                       settings=ChromaSettings(anonymized_telemetry=False))
    docs = client.get_collection(collection, embedding_function=None).get(
        include=["documents"])["documents"]
    return [d or "" for d in docs]


def truncated_share(index_dir: Path, embedder: Embedder) -> tuple[int, float, int]:
    """Chunks the baseline stored, the share of their tokens past the model's window, and the
    tokens it embedded (each chunk up to the window)."""
    docs = stored_texts(index_dir, "baseline")
    counts = [embedder.count_tokens(d or "") or 0 for d in docs]
    total = sum(counts)
    lost = sum(max(0, c - 256) for c in counts)
    return len(docs), (lost / total if total else 0.0), total - lost


def top_files(index: Any, question: str, k: int = 5) -> list[str]:
    nodes = index.as_retriever(similarity_top_k=k).retrieve(question)
    return [Path(n.node.metadata.get("file_path", "")).name for n in nodes]
