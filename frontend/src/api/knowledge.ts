// Knowledge bases: bases of a workspace, their documents (uploaded as files, ingested by the
// workers), chunks, and search with the ranks that explain each result.

import { ApiError, csrfToken, request } from './client';

export interface KnowledgeBase {
  id: string;
  workspace: number;
  name: string;
  description: string;
  embedding_model: string;
  embedding_credential: string;
  dimensions: number | null;
  chunk_size: number;
  chunk_overlap: number;
  documents: number;
  chunks: number;
  store: string;
  created_at: string;
  updated_at: string;
}

export type DocumentStatus = 'queued' | 'parsing' | 'chunking' | 'embedding' | 'indexing' | 'ready' | 'failed';

export const ACTIVE: DocumentStatus[] = ['queued', 'parsing', 'chunking', 'embedding', 'indexing'];

export interface KnowledgeDocument {
  id: string;
  name: string;
  content_type: string;
  size: number;
  kind: string;
  title: string;
  metadata: Record<string, unknown>;
  status: DocumentStatus;
  chunks_done: number;
  chunks_total: number;
  characters: number;
  error_code: string;
  error_message: string;
  error_retryable: boolean;
  attempts: number;
  created_at: string;
  finished_at: string | null;
}

export interface Chunk {
  id: number;
  document_id: string;
  position: number;
  text: string;
  meta: Record<string, unknown>;
}

export interface Hit extends Chunk {
  rank: number;
  score: number;
  similarity: number | null;
  lexical_rank: number | null;
  lexical_score: number | null;
  vector_rank: number | null;
  why: string;
  document: string;
}

/** Where a chunk cited as [kb:<id>] is (GET /api/knowledge/chunks/<id>/). */
export interface CitedChunk {
  chunk_id: number;
  base_id: string;
  document_id: string;
  document: string;
  position: number;
}

export type SearchMode = 'hybrid' | 'lexical' | 'vector';

export interface BaseInput {
  workspace: number;
  name: string;
  description?: string;
  embedding_model?: string;
  embedding_credential?: string;
  chunk_size?: number;
  chunk_overlap?: number;
}

const root = '/api/knowledge/';
const one = (id: string) => `${root}${encodeURIComponent(id)}/`;

export const knowledge = {
  list: (workspace: number | null, signal?: AbortSignal) =>
    request<KnowledgeBase[]>(root, { query: { workspace }, signal }),
  get: (id: string, signal?: AbortSignal) => request<KnowledgeBase>(one(id), { signal }),
  create: (body: BaseInput) => request<KnowledgeBase>(root, { method: 'POST', body }),
  change: (id: string, body: Partial<BaseInput>) => request<KnowledgeBase>(one(id), { method: 'PATCH', body }),
  remove: (id: string) => request<void>(one(id), { method: 'DELETE' }),
  reindex: (id: string) => request<{ documents: number }>(`${one(id)}reindex/`, { method: 'POST' }),
  documents: (id: string, signal?: AbortSignal) => request<KnowledgeDocument[]>(`${one(id)}documents/`, { signal }),
  removeDocument: (id: string, documentId: string) =>
    request<void>(`${one(id)}documents/${encodeURIComponent(documentId)}/`, { method: 'DELETE' }),
  retryDocument: (id: string, documentId: string) =>
    request<KnowledgeDocument>(`${one(id)}documents/${encodeURIComponent(documentId)}/retry/`, { method: 'POST' }),
  chunks: (id: string, documentId: string, offset = 0, limit = 50) =>
    request<Chunk[]>(`${one(id)}documents/${encodeURIComponent(documentId)}/chunks/`, { query: { offset, limit } }),
  citedChunk: (chunkId: number, signal?: AbortSignal) =>
    request<CitedChunk>(`${root}chunks/${encodeURIComponent(String(chunkId))}/`, { signal }),
  search: (id: string, body: { query: string; top_k?: number; mode?: SearchMode; score_threshold?: number | null }) =>
    request<Hit[]>(`${one(id)}search/`, { method: 'POST', body }),
};

/** Send files (and an optional encoding) as multipart; the new documents, queued. */
export async function uploadDocuments(id: string, files: File[], encoding = ''): Promise<KnowledgeDocument[]> {
  const form = new FormData();
  for (const file of files) form.append('files', file, file.name);
  if (encoding) form.append('encoding', encoding);
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = csrfToken();
  if (token) headers['X-CSRFToken'] = token;
  let response: Response;
  try {
    response = await fetch(`${one(id)}documents/`, { method: 'POST', body: form, headers, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, { code: 'network', message: 'Cannot reach the server. Check your connection.' });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, {
      code: error?.code ?? `http_${response.status}`,
      message: error?.message ?? (response.status === 413 ? 'The upload is too large.' : `The server answered ${response.status}.`),
    });
  }
  return body as KnowledgeDocument[];
}
