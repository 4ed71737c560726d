// A knowledge base's live document progress (/ws/knowledge/<base>/), over the shared reconnecting
// socket (reconnectingSocket.ts). The workers push each progress write of a document (its stage,
// chunks embedded of all, then its final status or error); a document added or removed by
// someone else says `documents.changed`. Nothing is replayed after a drop: the page reads the
// documents again when the socket is ready again, and polls them while it is not.

import type { KnowledgeDocument } from './knowledge';
import { openReconnectingSocket, wsUrl, type ReconnectingSocket } from './reconnectingSocket';

export type DocumentPatch = Partial<KnowledgeDocument> & { id: string };

export type KnowledgeMessage =
  | { type: 'ready' }
  | { type: 'documents.changed' }
  | { type: 'document.progress'; document: DocumentPatch };

export function isKnowledgeMessage(value: unknown): value is KnowledgeMessage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { type?: unknown; document?: unknown };
  if (v.type === 'ready' || v.type === 'documents.changed') return true;
  return (
    v.type === 'document.progress' &&
    typeof v.document === 'object' &&
    v.document !== null &&
    typeof (v.document as { id?: unknown }).id === 'string'
  );
}

/** The documents with a pushed patch applied; null when the document is not in the list (one
 * someone else uploaded: read the list again). */
export function patched(documents: KnowledgeDocument[], patch: DocumentPatch): KnowledgeDocument[] | null {
  const index = documents.findIndex((d) => d.id === patch.id);
  if (index < 0) return null;
  const next = documents.slice();
  next[index] = { ...documents[index], ...patch };
  return next;
}

export interface KnowledgeSocketOptions {
  baseId: string;
  onMessage: (message: KnowledgeMessage) => void;
  /** Whether progress is being pushed now (false while connecting, reconnecting or refused). */
  onLive: (live: boolean) => void;
  WebSocketImpl?: { new (url: string): WebSocket };
  location?: Pick<Location, 'protocol' | 'host'>;
}

export function openKnowledgeSocket(options: KnowledgeSocketOptions): ReconnectingSocket {
  const loc = options.location ?? window.location;
  return openReconnectingSocket<KnowledgeMessage>({
    url: () => wsUrl(`/ws/knowledge/${encodeURIComponent(options.baseId)}/`, loc),
    accept: isKnowledgeMessage,
    onMessage: (message) => {
      // Live from 'ready' on: the server accepts before it checks membership, then says ready.
      if (message.type === 'ready') options.onLive(true);
      options.onMessage(message);
    },
    onState: (state) => {
      if (state !== 'open') options.onLive(false);
    },
    reportClose: true,
    baseDelay: 1000,
    maxDelay: 30_000,
    keepAliveMs: 25_000,
    WebSocketImpl: options.WebSocketImpl,
  });
}
