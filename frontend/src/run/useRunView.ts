// One run, live: load the snapshot, then follow the WebSocket from its last seq, reconnecting
// with backoff (always from the last seq applied) until the run ends.

import { useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { errorMessage } from '../api/client';
import type { RunEvent } from '../api/events';
import type { Graph } from '../api/graph';
import { api, type RunDetail } from '../api/resources';
import { openRunSocket, type RunSocket, type SocketState } from '../api/runSocket';
import { applyEvents, fromSnapshot, initialRunView, isFinished, type RunView } from './reducer';

type Action = { type: 'snapshot'; view: RunView } | { type: 'events'; events: RunEvent[] } | { type: 'reset'; runId: string | null };

function reduce(state: RunView, action: Action): RunView {
  switch (action.type) {
    case 'snapshot':
      // events that arrived before the snapshot and go beyond it still count
      return action.view.lastSeq >= state.lastSeq ? action.view : state;
    case 'events':
      return applyEvents(state, action.events);
    case 'reset':
      return initialRunView(action.runId);
  }
}

export interface Connection {
  state: SocketState | 'idle';
  attempt: number;
  delay?: number;
}

export interface LiveRun {
  view: RunView;
  detail: RunDetail | null;
  loading: boolean;
  error: string | null;
  connection: Connection;
  reload: () => void;
  /** the graph that ran, when the API says (detail.graph, or the version's graph) */
  graph: Graph | null;
}

export function useRunView(runId: string | null, workflowId: string, currentVersion: number | null): LiveRun {
  const [view, dispatch] = useReducer(reduce, runId, initialRunView);
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [graph, setGraph] = useState<Graph | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [connection, setConnection] = useState<Connection>({ state: 'idle', attempt: 0 });
  const [attempt, setAttempt] = useState(0);
  const viewRef = useRef(view);
  viewRef.current = view;
  const socketRef = useRef<RunSocket | null>(null);

  useEffect(() => {
    dispatch({ type: 'reset', runId });
    setDetail(null);
    setGraph(null);
    setError(null);
    setConnection({ state: 'idle', attempt: 0 });
    if (!runId) return;
    const abort = new AbortController();
    let queue: RunEvent[] = [];
    let frame: number | null = null;
    const flush = () => {
      frame = null;
      const events = queue;
      queue = [];
      if (events.length) dispatch({ type: 'events', events });
    };
    setLoading(true);
    api
      .getRun(runId, abort.signal)
      .then((run) => {
        const snapshot = fromSnapshot(run);
        viewRef.current = snapshot;
        dispatch({ type: 'snapshot', view: snapshot });
        setDetail(run);
        setLoading(false);
        if (run.graph) setGraph(run.graph);
        else if (typeof run.version === 'number' && run.version !== currentVersion) {
          api.getVersion(workflowId, run.version).then(
            (version) => !abort.signal.aborted && setGraph(version.graph),
            () => undefined, // fall back to the workflow's graph
          );
        }
        if (isFinished(snapshot)) return;
        socketRef.current = openRunSocket({
          runId,
          lastSeq: () => viewRef.current.lastSeq,
          isFinished: () => isFinished(viewRef.current),
          onEvent: (event) => {
            queue.push(event);
            // batch a burst of chunks into one render
            frame ??= requestAnimationFrame(flush);
          },
          onState: (state, info) => setConnection({ state, attempt: info?.attempt ?? 0, delay: info?.delay }),
        });
      })
      .catch((cause) => {
        if (abort.signal.aborted) return;
        setLoading(false);
        setError(errorMessage(cause));
      });
    return () => {
      abort.abort();
      if (frame !== null) cancelAnimationFrame(frame);
      socketRef.current?.close();
      socketRef.current = null;
    };
    // currentVersion only picks which graph to fetch; a change must not restart the stream
  }, [runId, workflowId, attempt]);

  // once the run has ended there is nothing more to hear
  const finished = isFinished(view);
  useEffect(() => {
    if (finished && socketRef.current) {
      socketRef.current.close();
      socketRef.current = null;
    }
  }, [finished]);

  const reload = useCallback(() => setAttempt((n) => n + 1), []);
  return { view, detail, loading, error, connection, reload, graph };
}
