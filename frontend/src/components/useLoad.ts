// One way to load what a page shows: fetch on mount (and when deps change), abort on unmount,
// and a tagged state for the page to render from. `reload` fetches again (the Retry button);
// `update` changes loaded data in place after a create or delete.

import { useCallback, useEffect, useState, type DependencyList } from 'react';

export type Load<T> = { status: 'loading' } | { status: 'error'; error: unknown } | { status: 'ready'; data: T };

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

export function useLoad<T>(fetcher: (signal?: AbortSignal) => Promise<T>, deps: DependencyList) {
  const [load, setLoad] = useState<Load<T>>({ status: 'loading' });

  const run = useCallback((signal?: AbortSignal) => {
    setLoad({ status: 'loading' });
    fetcher(signal)
      .then((data) => setLoad({ status: 'ready', data }))
      .catch((error: unknown) => {
        if (isAbort(error)) return;
        setLoad({ status: 'error', error });
      });
  }, deps);

  useEffect(() => {
    const controller = new AbortController();
    run(controller.signal);
    return () => controller.abort();
  }, [run]);

  const reload = useCallback(() => run(), [run]);
  const update = useCallback(
    (change: (data: T) => T) => setLoad((current) => (current.status === 'ready' ? { status: 'ready', data: change(current.data) } : current)),
    [],
  );
  const set = useCallback((data: T) => setLoad({ status: 'ready', data }), []);

  return { load, reload, update, set };
}
