// Time travel: a new run made from an earlier one (re-run from a step, edit a step's output and
// continue, retry), its preview, two runs side by side, and a workflow's pinned data.
//
//   POST /api/runs/<id>/steps/<key>/rerun/          {output?, version?} → 201 the new run's summary
//   POST /api/runs/<id>/steps/<key>/rerun/preview/  the same body → what it would execute, reuse,
//                                                   skip, and about what it would cost
//   POST /api/runs/<id>/rerun/[preview/]            {version?}: retry (no step)
//   GET  /api/runs/compare/?a=<id>&b=<id>
//   GET/PUT /api/workflows/<id>/pins/   {"pins": {node id: output}}

import { request } from './client';
import type { ReusedLink, RunStatus, StepError } from './events';
import type { RunSummary } from './resources';

/** Where a reused step's output came from: kind recorded (the source run's step as it ran),
 * edited (typed by a person) or pinned (the workflow's pinned data). */
export type ReusedFrom = ReusedLink;

export type RerunMode = 'from' | 'edit' | 'retry';

/** Where a run made by time travel came from. */
export interface RunSource {
  run: string | null;
  step: string | null;
  mode: RerunMode | 'pinned';
}

/** A run made from this one. */
export interface RerunEntry {
  id: string;
  status: RunStatus;
  step: string | null;
  mode: RerunMode | 'pinned';
}

export type VersionChoice = 'run' | 'current';

export interface RerunBody {
  /** a top-level step's key; none: retry */
  step?: string;
  /** with `step`: that step's output, edited (null is an output like any other) */
  output?: unknown;
  version?: VersionChoice;
}

export type Verdict = 'reuse' | 'execute' | 'skip';

export interface RerunPreview {
  mode: RerunMode;
  version: number;
  nodes: { node: string; verdict: Verdict }[];
  execute: number;
  reuse: number;
  skip: number;
  /** what the executed steps cost in the source run, at today's catalogue prices */
  estimated_cost: number;
  /** what the reused steps cost when they ran */
  reused_cost: number;
  /** executed nodes with no recorded cost to go by */
  not_estimated: string[];
}

/** One node's step in one of two compared runs. */
export interface ComparedStep {
  step: string;
  status: string;
  output: unknown;
  error: StepError | null;
  branch: string | null;
  tokens_in: number;
  tokens_out: number;
  cost: number;
  duration_ms: number | null;
  reused_from: ReusedFrom | null;
}

export interface ComparedNode {
  node: string;
  a: ComparedStep | null;
  b: ComparedStep | null;
  same_output: boolean;
}

export interface RunComparison {
  a: RunSummary;
  b: RunSummary;
  nodes: ComparedNode[];
  differences: number;
}

export type Pins = Record<string, unknown>;

/** Where a re-run request goes: the step's own address, or the run's for a retry; and the body
 * without the step (the address names it). */
export function rerunRequest(runId: string, body: RerunBody): { path: string; body: Omit<RerunBody, 'step'> } {
  const { step, ...rest } = body;
  const run = `/api/runs/${encodeURIComponent(runId)}/`;
  return { path: step ? `${run}steps/${encodeURIComponent(step)}/rerun/` : `${run}rerun/`, body: rest };
}

export const timeTravel = {
  rerun: (runId: string, body: RerunBody) => {
    const req = rerunRequest(runId, body);
    return request<RunSummary>(req.path, { method: 'POST', body: req.body });
  },
  preview: (runId: string, body: RerunBody, signal?: AbortSignal) => {
    const req = rerunRequest(runId, body);
    return request<RerunPreview>(`${req.path}preview/`, { method: 'POST', body: req.body, signal });
  },
  compare: (a: string, b: string, signal?: AbortSignal) =>
    request<RunComparison>('/api/runs/compare/', { query: { a, b }, signal }),
  getPins: async (workflowId: string) =>
    (await request<{ pins: Pins | null }>(`/api/workflows/${encodeURIComponent(workflowId)}/pins/`)).pins ?? {},
  /** Replaces every pin of the workflow ({} unpins all). */
  putPins: async (workflowId: string, pins: Pins) =>
    (await request<{ pins: Pins | null }>(`/api/workflows/${encodeURIComponent(workflowId)}/pins/`, { method: 'PUT', body: { pins } }))
      .pins ?? {},
};
