"""The knowledge store of this process, opened on first use (in the process that uses it, so no
connection is copied into a forked worker).

``KNOWLEDGE_STORE_URL`` names it. Unset, it is the database's own PostgreSQL when that has
pgvector, and otherwise an SQLite file beside the database (``var/knowledge.sqlite3``), with a
warning in the log: one machine's processes share that file, workers on other machines cannot.
A store named explicitly that cannot be opened is an error (503), never a silent fallback.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

from editor.errors import OperationError
from runtime.knowledge.backends import open_store
from runtime.knowledge.errors import KnowledgeError
from runtime.knowledge.store import KnowledgeStore

log = logging.getLogger(__name__)
_lock = threading.Lock()
_stores: dict[str, KnowledgeStore] = {}


class StoreUnavailable(OperationError):
    status = 503
    code = "knowledge_store_unavailable"


def _fallback() -> str:
    return f"sqlite:///{settings.VAR_DIR / 'knowledge.sqlite3'}"


def _open(url: str) -> KnowledgeStore:
    opened = open_store(url)
    if opened.backend == "pgvector":
        try:
            opened.count("")  # makes the schema now: a server without pgvector says so here
        except KnowledgeError:
            opened.close()
            raise
    return opened


def store() -> KnowledgeStore:
    explicit = str(settings.KNOWLEDGE_STORE_URL or "")
    url = explicit or str(settings.KNOWLEDGE_DEFAULT_STORE_URL)
    with _lock:
        opened = _stores.get(url)
        if opened is not None:
            return opened
        try:
            opened = _open(url)
        except KnowledgeError as exc:
            if explicit:
                raise StoreUnavailable(f"the knowledge store cannot be used: {exc}") from None
            log.warning("%s; using %s on this machine instead", exc, _fallback())
            opened = _stores.get(_fallback()) or _open(_fallback())
            _stores[_fallback()] = opened
        _stores[url] = opened
        return opened


def close_all() -> None:
    with _lock:
        for opened in set(_stores.values()):
            opened.close()
        _stores.clear()
