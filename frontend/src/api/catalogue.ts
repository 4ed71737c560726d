// The node-type catalogue, fetched once per page load and shared.

import { useCallback, useEffect, useState } from 'react';
import { errorMessage } from './client';
import type { NodeTypeSpec } from './graph';
import { api } from './resources';

export interface CatalogueState {
  status: 'loading' | 'ready' | 'error';
  specs: NodeTypeSpec[];
  byType: ReadonlyMap<string, NodeTypeSpec>;
  error: string | null;
  retry: () => void;
}

let pending: Promise<NodeTypeSpec[]> | null = null;

function load(): Promise<NodeTypeSpec[]> {
  pending ??= api.nodeTypes().catch((error) => {
    pending = null;
    throw error;
  });
  return pending;
}

export function catalogueMap(specs: NodeTypeSpec[]): Map<string, NodeTypeSpec> {
  return new Map(specs.map((spec) => [spec.type, spec]));
}

export function useCatalogue(): CatalogueState {
  const [state, setState] = useState<Omit<CatalogueState, 'retry'>>({
    status: 'loading',
    specs: [],
    byType: new Map(),
    error: null,
  });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, status: 'loading', error: null }));
    load().then(
      (specs) => live && setState({ status: 'ready', specs, byType: catalogueMap(specs), error: null }),
      (error) => live && setState({ status: 'error', specs: [], byType: new Map(), error: errorMessage(error) }),
    );
    return () => {
      live = false;
    };
  }, [attempt]);
  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return { ...state, retry };
}
