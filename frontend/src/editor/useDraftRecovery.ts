// Unsaved work survives a reload or a closed tab: while the graph has unsaved changes it is kept
// in localStorage (per workflow, with the version it started from); opening the workflow again
// puts it back on the canvas, still unsaved, with a note and a way to discard it. If someone
// saved a newer version meanwhile, nothing is put back by itself: the note offers to.

import { useCallback, useEffect, useRef, useState } from 'react';
import type { Graph } from '../api/graph';
import { structureKey } from '../graph/convert';
import type { GraphEditor } from './useGraphEditor';

const KEY = (workflowId: string) => `flow.unsaved.${workflowId}`;
const SAVE_DELAY_MS = 400;

interface Stored {
  base: number | null;
  graph: Graph;
  at: number;
}

export interface Recovery {
  /** unsaved changes from an earlier visit: put back (`applied`), or waiting to be (a newer version exists) */
  state: { applied: boolean; at: number; base: number | null } | null;
  /** puts back changes kept while a newer version was saved */
  restore: () => void;
  /** back to the saved version; the kept changes are forgotten */
  discard: () => void;
  dismiss: () => void;
}

function read(workflowId: string): Stored | null {
  try {
    const raw = localStorage.getItem(KEY(workflowId));
    const value = raw ? (JSON.parse(raw) as Stored) : null;
    return value && value.graph && Array.isArray(value.graph.nodes) ? value : null;
  } catch {
    return null;
  }
}

function forget(workflowId: string) {
  try {
    localStorage.removeItem(KEY(workflowId));
  } catch {
    /* private mode */
  }
}

export function useDraftRecovery(
  workflowId: string,
  editor: Pick<GraphEditor, 'graph' | 'dirty' | 'replace' | 'reset'>,
  loaded: { ready: boolean; version: number | null; savedGraph: Graph },
  enabled: boolean,
): Recovery {
  const [state, setState] = useState<Recovery['state']>(null);
  const checked = useRef(false);
  const pending = useRef<Stored | null>(null);
  const { graph, dirty, replace, reset } = editor;

  // once the saved version is on the canvas: anything kept from an earlier visit?
  useEffect(() => {
    if (!loaded.ready || checked.current) return;
    checked.current = true;
    const kept = read(workflowId);
    if (!kept || structureKey(kept.graph) === structureKey(loaded.savedGraph) && JSON.stringify(kept.graph) === JSON.stringify(loaded.savedGraph)) {
      forget(workflowId);
      return;
    }
    if (kept.base === loaded.version) {
      replace(kept.graph); // unsaved again, and one undo from the saved version
      setState({ applied: true, at: kept.at, base: kept.base });
    } else {
      pending.current = kept;
      setState({ applied: false, at: kept.at, base: kept.base });
    }
  }, [loaded.ready, loaded.version, loaded.savedGraph, workflowId, replace]);

  // while there are unsaved changes, keep them (a moment after the last one); saved: forget them
  useEffect(() => {
    if (!enabled || !checked.current) return;
    if (!dirty) {
      if (!pending.current) forget(workflowId);
      return;
    }
    const timer = setTimeout(() => {
      try {
        localStorage.setItem(KEY(workflowId), JSON.stringify({ base: loaded.version, graph, at: Date.now() } satisfies Stored));
      } catch {
        /* full or private: the leave prompt still guards the work */
      }
    }, SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [enabled, dirty, graph, workflowId, loaded.version]);

  const restore = useCallback(() => {
    const kept = pending.current;
    pending.current = null;
    if (kept) replace(kept.graph);
    setState((s) => (s ? { ...s, applied: true } : s));
  }, [replace]);
  const discard = useCallback(() => {
    pending.current = null;
    forget(workflowId);
    reset(loaded.savedGraph);
    setState(null);
  }, [workflowId, reset, loaded.savedGraph]);
  const dismiss = useCallback(() => {
    if (pending.current) {
      pending.current = null;
      forget(workflowId);
    }
    setState(null);
  }, [workflowId]);
  return { state, restore, discard, dismiss };
}
