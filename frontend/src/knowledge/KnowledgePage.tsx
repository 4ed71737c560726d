// /knowledge: the workspace's knowledge bases. Create one, upload documents (several at once)
// and watch each go through parse → chunk → embed → index, read a document's chunks, try
// queries and see why each chunk ranked. /knowledge/<base>?document=<id>&chunk=<id> opens a
// cited chunk.

import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import {
  ACTIVE,
  knowledge,
  uploadDocuments,
  type Chunk,
  type Hit,
  type KnowledgeBase,
  type KnowledgeDocument,
  type SearchMode,
} from '../api/knowledge';
import { openKnowledgeSocket, patched, type KnowledgeMessage } from '../api/knowledgeSocket';
import { listWorkspaces, type WorkspaceSummary } from '../api/workspaces';
import { needsLogin, SignedOut } from '../components/LoadStatus';
import { useToast } from '../components/toast';
import { EmptyState, ErrorState, LoadingState } from '../components/ui';
import { Link, navigate, paths } from '../router';
import './knowledge.css';

const POLL_MS = 1000;

export function KnowledgePage({ baseId }: { baseId: string | null }) {
  const toast = useToast();
  const [workspaces, setWorkspaces] = useState<WorkspaceSummary[] | null>(null);
  const [bases, setBases] = useState<KnowledgeBase[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [workspace, setWorkspace] = useState<number | null>(null);
  const [creating, setCreating] = useState(false);

  const load = useCallback(() => {
    setError(null);
    Promise.all([listWorkspaces(), knowledge.list(null)]).then(
      ([found, list]) => {
        setWorkspaces(found);
        setBases(list);
        setWorkspace((current) => current ?? found[0]?.id ?? null);
      },
      setError,
    );
  }, []);
  useEffect(() => {
    document.title = 'Knowledge — Flows';
    load();
  }, [load]);

  async function create(event: FormEvent) {
    event.preventDefault();
    if (!name.trim() || workspace === null) return;
    setCreating(true);
    try {
      const made = await knowledge.create({ workspace, name: name.trim() });
      setName('');
      setBases((list) => [...(list ?? []), made]);
      navigate(paths.knowledge(made.id));
    } catch (cause) {
      toast.show(errorMessage(cause), 'error');
    } finally {
      setCreating(false);
    }
  }

  if (needsLogin(error)) return <SignedOut className="page page-center" message="Sign in to see your knowledge bases." />;
  return (
    <div className="page list-page knowledge-page">
      <header className="page-head">
        <div>
          <h1>Knowledge</h1>
          <p className="muted">Documents in, cited answers out: a retrieve node or the knowledge_search tool searches them.</p>
        </div>
        <div className="page-actions">
          <Link to={paths.list()} className="btn btn-secondary">
            Workflows
          </Link>
        </div>
      </header>
      {error !== null && <ErrorState message={errorMessage(error)} onRetry={load} />}
      {error === null && bases === null && <LoadingState label="Loading knowledge bases…" />}
      {bases && (
        <div className="knowledge-layout">
          <aside className="knowledge-bases" aria-label="Knowledge bases">
            <ul className="knowledge-base-list" data-testid="knowledge-bases">
              {bases.map((base) => (
                <li key={base.id}>
                  <Link to={paths.knowledge(base.id)} className={base.id === baseId ? 'active' : ''} data-testid="knowledge-base-link">
                    <strong>{base.name}</strong>
                    <span className="muted"> · {base.documents} doc{base.documents === 1 ? '' : 's'}</span>
                  </Link>
                </li>
              ))}
            </ul>
            <form onSubmit={create} className="knowledge-create">
              {workspaces && workspaces.length > 1 && (
                <select className="input" value={workspace ?? ''} onChange={(e) => setWorkspace(Number(e.target.value))} aria-label="Workspace">
                  {workspaces.map((w) => (
                    <option key={w.id} value={w.id}>
                      {w.name}
                    </option>
                  ))}
                </select>
              )}
              <input className="input" placeholder="New knowledge base" value={name} onChange={(e) => setName(e.target.value)} aria-label="Name" data-testid="knowledge-name" />
              <button type="submit" className="btn btn-primary" disabled={creating || !name.trim()} data-testid="knowledge-create">
                Create
              </button>
            </form>
          </aside>
          <section className="knowledge-main">
            {baseId ? (
              <BaseView key={baseId} baseId={baseId} onDeleted={() => { setBases((list) => (list ?? []).filter((b) => b.id !== baseId)); navigate(paths.knowledge()); }} />
            ) : (
              <EmptyState title={bases.length ? 'Pick a knowledge base' : 'No knowledge bases yet'} icon="❖">
                Create one, then upload text, Markdown, HTML, PDF, CSV or JSON files.
              </EmptyState>
            )}
          </section>
        </div>
      )}
    </div>
  );
}

function percent(document: KnowledgeDocument): string {
  if (document.status === 'ready') return `${document.chunks_total} chunks`;
  if (document.status === 'embedding' && document.chunks_total) return `${document.chunks_done} / ${document.chunks_total} chunks`;
  return '';
}

function BaseView({ baseId, onDeleted }: { baseId: string; onDeleted: () => void }) {
  const toast = useToast();
  const [base, setBase] = useState<KnowledgeBase | null>(null);
  const [documents, setDocuments] = useState<KnowledgeDocument[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [uploading, setUploading] = useState(false);
  const [encoding, setEncoding] = useState('');
  const fileInput = useRef<HTMLInputElement>(null);
  const params = new URLSearchParams(window.location.search);
  const [openDocument, setOpenDocument] = useState<string | null>(params.get('document'));
  const focusChunk = params.get('chunk');

  const refresh = useCallback(() => {
    Promise.all([knowledge.get(baseId), knowledge.documents(baseId)]).then(([b, docs]) => {
      setBase(b);
      setDocuments(docs);
    }, setError);
  }, [baseId]);
  useEffect(refresh, [refresh]);

  // Live progress: the workers push each document's progress over the base's socket. While the
  // socket is not ready (connecting, reconnecting, refused), poll instead as long as any
  // document is on its way through the pipeline.
  const [live, setLive] = useState(false);
  const documentsNow = useRef(documents);
  documentsNow.current = documents;
  useEffect(() => {
    const onMessage = (message: KnowledgeMessage) => {
      if (message.type === 'ready' || message.type === 'documents.changed') {
        refresh(); // nothing is replayed: whatever happened before this is read from the rows
        return;
      }
      const patch = message.document;
      if (!documentsNow.current || !patched(documentsNow.current, patch)) {
        refresh(); // a document someone else uploaded
        return;
      }
      setDocuments((list) => (list ? (patched(list, patch) ?? list) : list));
      if (patch.status === 'ready' || patch.status === 'failed') knowledge.get(baseId).then(setBase, () => undefined);
    };
    const socket = openKnowledgeSocket({ baseId, onMessage, onLive: setLive });
    return () => socket.close();
  }, [baseId, refresh]);
  const active = (documents ?? []).some((d) => ACTIVE.includes(d.status));
  useEffect(() => {
    if (!active || live) return;
    const timer = window.setInterval(refresh, POLL_MS);
    return () => window.clearInterval(timer);
  }, [active, live, refresh]);

  async function upload(files: FileList | null) {
    if (!files || files.length === 0) return;
    setUploading(true);
    try {
      const added = await uploadDocuments(baseId, Array.from(files), encoding.trim());
      setDocuments((list) => [...added, ...(list ?? [])]);
      toast.show(`${added.length} document${added.length === 1 ? '' : 's'} queued for ingestion`, 'success');
    } catch (cause) {
      toast.show(errorMessage(cause), 'error');
    } finally {
      setUploading(false);
      if (fileInput.current) fileInput.current.value = '';
    }
  }

  async function act(what: () => Promise<unknown>, done: string) {
    try {
      await what();
      toast.show(done, 'success');
      refresh();
    } catch (cause) {
      toast.show(errorMessage(cause), 'error');
    }
  }

  if (error !== null) return <ErrorState message={errorMessage(error)} onRetry={refresh} />;
  if (!base || !documents) return <LoadingState label="Loading the knowledge base…" />;
  return (
    <div className="knowledge-base" data-testid="knowledge-base">
      <header className="knowledge-head">
        <div>
          <h2>{base.name}</h2>
          <p className="muted" data-testid="knowledge-summary">
            {base.embedding_model}
            {base.dimensions ? ` · ${base.dimensions} dimensions` : ''} · chunks of {base.chunk_size} characters ({base.chunk_overlap} overlap) · {base.chunks} chunks in {base.store}
          </p>
        </div>
        <div className="page-actions">
          <button type="button" className="btn btn-secondary" onClick={() => act(() => knowledge.reindex(baseId), 'Re-indexing every document')}>
            Re-index
          </button>
          <button
            type="button"
            className="btn btn-danger"
            onClick={() => {
              if (window.confirm(`Delete ${base.name} and all its documents?`)) {
                knowledge.remove(baseId).then(onDeleted, (cause) => toast.show(errorMessage(cause), 'error'));
              }
            }}
          >
            Delete
          </button>
        </div>
      </header>

      <div className="knowledge-upload">
        <input ref={fileInput} type="file" multiple hidden onChange={(e) => upload(e.target.files)} data-testid="knowledge-files"
          accept=".txt,.md,.markdown,.html,.htm,.pdf,.csv,.tsv,.json,.jsonl,text/*,application/pdf,application/json" />
        <button type="button" className="btn btn-primary" disabled={uploading} onClick={() => fileInput.current?.click()} data-testid="knowledge-upload">
          {uploading ? 'Uploading…' : 'Upload documents'}
        </button>
        <input className="input knowledge-encoding" placeholder="encoding (if not UTF-8)" value={encoding} onChange={(e) => setEncoding(e.target.value)} aria-label="Encoding" />
        <span className="muted">Text, Markdown, HTML, PDF, CSV, JSON; several at once.</span>
      </div>

      <table className="table" data-testid="knowledge-documents" data-live={live ? 'pushed' : 'polled'}>
        <thead>
          <tr>
            <th>Document</th>
            <th>Status</th>
            <th>Progress</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {documents.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">No documents yet.</td>
            </tr>
          )}
          {documents.map((document) => (
            <tr key={document.id} data-testid="knowledge-document" data-status={document.status}>
              <td>
                <button type="button" className="btn-link" onClick={() => setOpenDocument(document.id === openDocument ? null : document.id)}>
                  {document.name}
                </button>
                {document.error_message && (
                  <div className="field-error" data-testid="knowledge-document-error">
                    {document.error_message}
                  </div>
                )}
              </td>
              <td>
                <span className={`pill pill-${document.status === 'ready' ? 'succeeded' : document.status === 'failed' ? 'failed' : 'running'}`}>{document.status}</span>
              </td>
              <td className="muted" data-testid="knowledge-progress">{percent(document)}</td>
              <td className="knowledge-actions">
                {document.status === 'failed' && (
                  <button type="button" className="btn btn-secondary btn-small" onClick={() => act(() => knowledge.retryDocument(baseId, document.id), `Retrying ${document.name}`)}>
                    Retry
                  </button>
                )}
                <button type="button" className="btn btn-secondary btn-small" onClick={() => act(() => knowledge.removeDocument(baseId, document.id), `Deleted ${document.name}`)}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>

      {openDocument && <Chunks baseId={baseId} documentId={openDocument} focus={focusChunk} name={documents.find((d) => d.id === openDocument)?.name ?? ''} />}
      <Search baseId={baseId} documents={documents} onOpen={(documentId) => setOpenDocument(documentId)} />
    </div>
  );
}

function Chunks({ baseId, documentId, name, focus }: { baseId: string; documentId: string; name: string; focus: string | null }) {
  const [chunks, setChunks] = useState<Chunk[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    setChunks(null);
    knowledge.chunks(baseId, documentId, 0, 200).then(setChunks, setError);
  }, [baseId, documentId]);
  useEffect(() => {
    if (chunks && focus) document.getElementById(`chunk-${focus}`)?.scrollIntoView({ block: 'center' });
  }, [chunks, focus]);
  if (error !== null) return <ErrorState message={errorMessage(error)} />;
  if (!chunks) return <LoadingState label="Loading chunks…" />;
  return (
    <section className="knowledge-chunks" data-testid="knowledge-chunks">
      <h3>Chunks of {name}</h3>
      {chunks.length === 0 && <p className="muted">No chunks.</p>}
      <ol>
        {chunks.map((chunk) => (
          <li key={chunk.id} id={`chunk-${chunk.id}`} className={String(chunk.id) === focus ? 'knowledge-chunk focused' : 'knowledge-chunk'} data-testid="knowledge-chunk">
            <div className="muted">
              #{chunk.position}
              {chunk.meta.page !== undefined ? ` · page ${String(chunk.meta.page)}` : ''}
              {chunk.meta.heading ? ` · ${String(chunk.meta.heading)}` : ''}
            </div>
            <pre className="knowledge-text">{chunk.text}</pre>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Search({ baseId, documents, onOpen }: { baseId: string; documents: KnowledgeDocument[]; onOpen: (documentId: string) => void }) {
  const [query, setQuery] = useState('');
  const [mode, setMode] = useState<SearchMode>('hybrid');
  const [hits, setHits] = useState<Hit[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(event: FormEvent) {
    event.preventDefault();
    if (!query.trim()) return;
    setBusy(true);
    setError(null);
    try {
      setHits(await knowledge.search(baseId, { query: query.trim(), mode, top_k: 5 }));
    } catch (cause) {
      setError(errorMessage(cause));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="knowledge-search">
      <h3>Try a query</h3>
      <form onSubmit={run} className="knowledge-search-form">
        <input className="input" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="Ask what a flow would ask" aria-label="Query" data-testid="knowledge-query" />
        <select className="input" value={mode} onChange={(e) => setMode(e.target.value as SearchMode)} aria-label="Search mode">
          <option value="hybrid">Hybrid (words + meaning)</option>
          <option value="lexical">Words only</option>
          <option value="vector">Meaning only</option>
        </select>
        <button type="submit" className="btn btn-primary" disabled={busy || !query.trim()} data-testid="knowledge-search">
          Search
        </button>
      </form>
      {error && <div className="field-error">{error}</div>}
      {hits && hits.length === 0 && <p className="muted">Nothing matched.</p>}
      {hits && hits.length > 0 && (
        <ol className="knowledge-hits" data-testid="knowledge-hits">
          {hits.map((hit) => (
            <li key={hit.id} className="knowledge-hit" data-testid="knowledge-hit">
              <div>
                <strong>#{hit.rank}</strong>{' '}
                <button type="button" className="btn-link" onClick={() => onOpen(hit.document_id)}>
                  {hit.document || documents.find((d) => d.id === hit.document_id)?.name}
                </button>{' '}
                <span className="muted">chunk {hit.position}</span>
              </div>
              <div className="muted knowledge-why" data-testid="knowledge-why">
                why: {hit.why} · score {hit.score.toFixed(4)}
              </div>
              <pre className="knowledge-text">{hit.text}</pre>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
