// A workflow's pinned data (GET/PUT /api/workflows/<id>/pins/): the outputs its nodes give in
// test runs from the editor instead of running. Also what the editor knows of the last run's
// outputs, to pin one of them: the last run this page showed, else the workflow's newest run.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { errorMessage } from '../api/client';
import { SUCCEEDED_STEP_STATUSES } from '../api/events';
import type { Graph } from '../api/graph';
import { api } from '../api/resources';
import { timeTravel, type Pins } from '../api/timeTravel';
import { isFinished, type RunView } from '../run/reducer';

export interface PinsState {
  pins: Pins;
  loaded: boolean;
  saving: boolean;
  error: string | null;
  /** pinned nodes that are in the graph (a pin of a node since deleted does nothing) */
  active: ReadonlySet<string>;
  pin: (nodeId: string, output: unknown) => Promise<boolean>;
  unpin: (nodeId: string) => Promise<boolean>;
}

export function usePins(workflowId: string, graph: Graph): PinsState {
  const [pins, setPins] = useState<Pins>({});
  const [loaded, setLoaded] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const current = useRef(pins);
  current.current = pins;

  useEffect(() => {
    let stale = false;
    setLoaded(false);
    timeTravel.getPins(workflowId).then(
      (found) => {
        if (stale) return;
        setPins(found);
        setLoaded(true);
      },
      (cause) => {
        if (stale) return;
        setError(errorMessage(cause));
        setLoaded(true);
      },
    );
    return () => {
      stale = true;
    };
  }, [workflowId]);

  const put = useCallback(
    async (next: Pins) => {
      setSaving(true);
      setError(null);
      try {
        const saved = await timeTravel.putPins(workflowId, next);
        current.current = saved;
        setPins(saved);
        return true;
      } catch (cause) {
        setError(errorMessage(cause));
        return false;
      } finally {
        setSaving(false);
      }
    },
    [workflowId],
  );
  const pin = useCallback((nodeId: string, output: unknown) => put({ ...current.current, [nodeId]: output }), [put]);
  const unpin = useCallback(
    (nodeId: string) => {
      const next = { ...current.current };
      delete next[nodeId];
      return put(next);
    },
    [put],
  );

  const active = useMemo(() => new Set(graph.nodes.map((n) => n.id).filter((id) => id in pins)), [graph, pins]);
  return { pins, loaded, saving, error, active, pin, unpin };
}

/** The outputs of a run's top-level steps that succeeded (or were reused), by node. */
export interface RunOutputs {
  runId: string;
  outputs: Record<string, unknown>;
}

function outputsOf(view: RunView): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const step of Object.values(view.steps)) {
    if (step.parent === null && SUCCEEDED_STEP_STATUSES.has(step.status)) outputs[step.node] = step.output;
  }
  return outputs;
}

/**
 * The last run's outputs, to pin from: the last finished run this page showed, else (asked for
 * with `load`, once) the workflow's newest finished run from the API.
 */
export function useLastRunOutputs(workflowId: string, runId: string | null, view: RunView) {
  const [last, setLast] = useState<RunOutputs | null>(null);
  const [loading, setLoading] = useState(false);
  const asked = useRef(false);
  const finished = isFinished(view);
  useEffect(() => {
    if (runId && finished && view.runId === runId) setLast({ runId, outputs: outputsOf(view) });
    // only when a shown run has finished: not on every event of a live one
  }, [runId, finished]);

  const load = useCallback(() => {
    if (asked.current) return;
    asked.current = true;
    setLoading(true);
    api
      .listRuns(workflowId)
      .then(async (page) => {
        const newest = page.results.find((run) => run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled');
        if (!newest) return;
        const detail = await api.getRun(newest.id);
        const outputs: Record<string, unknown> = {};
        for (const step of detail.steps ?? []) {
          if (step.parent === null && SUCCEEDED_STEP_STATUSES.has(step.status)) outputs[step.node] = step.output;
        }
        setLast((known) => known ?? { runId: detail.id, outputs });
      })
      .catch(() => undefined) // nothing to offer: typing an output still works
      .finally(() => setLoading(false));
  }, [workflowId]);

  return { last, loading, load };
}
