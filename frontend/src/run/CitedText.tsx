// A step's output as text with its citation markers ("[1]", "[kb:12]") as links to the cited
// chunk on the knowledge page (see citations.ts for how each is resolved). A marker that leads
// nowhere known (no retrieve step upstream, a chunk since deleted) stays plain text.

import { useEffect, useMemo, useState } from 'react';
import { knowledge } from '../api/knowledge';
import { paths, Link } from '../router';
import { citationHref, parseCitations, resolveCitation, type ChunkSource } from './citations';
import './citations.css';

// Chunk ids looked up once per page: a cited chunk does not move between bases.
const looked = new Map<number, Promise<ChunkSource | null>>();

function lookUp(chunkId: number): Promise<ChunkSource | null> {
  let found = looked.get(chunkId);
  if (!found) {
    found = knowledge.citedChunk(chunkId).then(
      (chunk) => chunk as ChunkSource,
      () => null,
    );
    looked.set(chunkId, found);
  }
  return found;
}

export function CitedText({ text, numbered, searched }: { text: string; numbered: ChunkSource[]; searched: Map<number, ChunkSource> }) {
  const pieces = useMemo(() => parseCitations(text), [text]);
  // [kb:id] markers the run's own tool results do not explain, looked up by id
  const missing = useMemo(
    () =>
      [...new Set(pieces.flatMap((p) => ('citation' in p && p.citation.kind === 'chunk' && !searched.has(p.citation.chunkId) ? [p.citation.chunkId] : [])))],
    [pieces, searched],
  );
  const [fetched, setFetched] = useState<Map<number, ChunkSource>>(new Map());
  useEffect(() => {
    if (!missing.length) return;
    let live = true;
    Promise.all(missing.map((id) => lookUp(id).then((source) => [id, source] as const))).then((found) => {
      if (!live) return;
      setFetched(new Map(found.flatMap(([id, source]) => (source ? [[id, source] as const] : []))));
    });
    return () => {
      live = false;
    };
  }, [missing]);
  if (!pieces.some((p) => 'citation' in p)) return <>{text}</>;
  return (
    <>
      {pieces.map((piece, i) => {
        if (!('citation' in piece)) return piece.text;
        const source =
          resolveCitation(piece.citation, numbered, searched) ??
          (piece.citation.kind === 'chunk' ? (fetched.get(piece.citation.chunkId) ?? null) : null);
        if (!source) return piece.text;
        return (
          <Link
            key={i}
            to={citationHref(paths.knowledge(source.base_id), source)}
            className="citation-link"
            data-testid="citation-link"
            title={source.document ? `Open the cited passage of ${source.document}` : 'Open the cited passage'}
          >
            {piece.text}
          </Link>
        );
      })}
    </>
  );
}
