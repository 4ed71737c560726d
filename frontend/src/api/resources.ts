// Typed calls for every endpoint the app uses. Shapes mirror the REST contract; fields the
// contract does not promise are optional so the app degrades instead of crashing.

import { request } from './client';
import type { FlowRef, ReusedLink, RunStatus, StepError, StepStatus, Totals } from './events';
import type { Graph, Issue, NodeTypeSpec } from './graph';

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface VersionSummary {
  number: number;
  created_at?: string;
  created_by?: string | null;
  valid?: boolean;
  note?: string;
}

export interface WorkflowSummary {
  id: string;
  name: string;
  description: string;
  updated_at: string;
  created_at?: string;
  /** the current version's number (the API's shape) */
  version?: number | null;
  /** whether the current version passes validation */
  valid?: boolean | null;
  /** the brief's shape; either may come */
  current_version?: VersionSummary | null;
  /** what the signed-in user's role lets them do with it (absent: assume everything) */
  can?: { edit: boolean; run: boolean };
}

export function versionOf(workflow: Pick<WorkflowSummary, 'version' | 'current_version'> | null | undefined): number | null {
  return workflow?.version ?? workflow?.current_version?.number ?? null;
}

export interface WorkflowDetail extends WorkflowSummary {
  graph: Graph | null;
  issues?: Issue[];
}

export interface SaveResult extends WorkflowDetail {
  issues: Issue[];
}

export interface VersionDetail extends VersionSummary {
  graph: Graph;
}

export interface ValidateResult {
  valid: boolean;
  errors: Issue[];
}

export interface StepRecord {
  id: string;
  node: string;
  type: string;
  status: StepStatus;
  parent: string | null;
  input: unknown;
  output: unknown;
  branch: string | null;
  error: StepError | null;
  attempt: number;
  model: string | null;
  tokens_in: number;
  tokens_out: number;
  cost: number;
  started_at: string | number | null;
  finished_at: string | number | null;
  duration_ms: number | null;
  /** what a waiting step asks a person (not promised by the contract; the events carry it) */
  request?: unknown;
  /** a reused step: where its output came from */
  reused_from?: ReusedLink | null;
  /** a subflow step running its flow as steps of the run: which workflow and version */
  flow?: FlowRef | null;
  /** the subflow step whose flow this step belongs to (null: the run's own flow) */
  in_flow?: string | null;
  /** tokens and cost of this step and everything under it, at any depth */
  subtree?: { tokens_in: number; tokens_out: number; cost: number };
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  workflow?: string;
  version?: number | null;
  created_at?: string;
  started_at?: string | null;
  finished_at?: string | null;
  totals?: Totals;
  error?: StepError | null;
  /** a run made from an earlier one (time travel): which, from which step, how; else null */
  source?: { run: string | null; step: string | null; mode: 'from' | 'edit' | 'retry' | 'pinned' } | null;
}

export interface RunDetail extends RunSummary {
  input: unknown;
  output: unknown;
  error: StepError | null;
  steps: StepRecord[];
  totals: Totals;
  last_seq: number;
  /** Not in the contract yet: the graph that ran, so the run view never shows a later edit. */
  graph?: Graph;
  /** runs made from this one, newest first */
  reruns?: { id: string; status: RunStatus; step: string | null; mode: 'from' | 'edit' | 'retry' | 'pinned' }[];
}

/** An example flow that ships with the app (GET /api/examples/). */
export interface ExampleSummary {
  name: string;
  title: string;
  description: string;
  node_count: number;
}

export function pageOf<T>(data: Page<T> | T[]): Page<T> {
  return Array.isArray(data) ? { count: data.length, next: null, previous: null, results: data } : data;
}

/** Next-page links are absolute URLs; keep only path and query so the request stays same-origin. */
export function samePath(url: string): string {
  try {
    const parsed = new URL(url, window.location.origin);
    return parsed.pathname + parsed.search;
  } catch {
    return url;
  }
}

export const api = {
  nodeTypes: () => request<NodeTypeSpec[]>('/api/node-types/'),

  listWorkflows: async (pageUrl?: string) =>
    pageOf(await request<Page<WorkflowSummary> | WorkflowSummary[]>(pageUrl ? samePath(pageUrl) : '/api/workflows/')),
  createWorkflow: (body: { name: string; description?: string; graph?: Graph }) =>
    request<WorkflowDetail>('/api/workflows/', { method: 'POST', body }),
  getWorkflow: (id: string) => request<WorkflowDetail>(`/api/workflows/${id}/`),
  /** `base_version`: the version the edit started from; a newer one on the server answers 409. */
  saveWorkflow: (id: string, body: { name?: string; graph: Graph; base_version?: number }) =>
    request<SaveResult>(`/api/workflows/${id}/`, { method: 'PUT', body }),
  renameWorkflow: (id: string, name: string) =>
    request<WorkflowDetail>(`/api/workflows/${id}/`, { method: 'PATCH', body: { name } }),
  deleteWorkflow: (id: string) => request<void>(`/api/workflows/${id}/`, { method: 'DELETE' }),
  duplicateWorkflow: (id: string) =>
    request<WorkflowDetail>(`/api/workflows/${id}/duplicate/`, { method: 'POST', body: {} }),
  exportWorkflow: (id: string) => request<unknown>(`/api/workflows/${id}/export/`),
  importWorkflow: (body: { name?: string; graph: Graph }) =>
    request<WorkflowDetail>('/api/workflows/import/', { method: 'POST', body }),
  listExamples: () => request<ExampleSummary[]>('/api/examples/'),
  /** A new workflow in the user's own workspace, named after the example's title. */
  importExample: (name: string) =>
    request<WorkflowDetail>(`/api/examples/${encodeURIComponent(name)}/import/`, { method: 'POST', body: {} }),
  validateWorkflow: (id: string, graph: Graph, signal?: AbortSignal) =>
    request<ValidateResult>(`/api/workflows/${id}/validate/`, { method: 'POST', body: { graph }, signal }),

  listVersions: async (id: string) =>
    pageOf(await request<Page<VersionSummary> | VersionSummary[]>(`/api/workflows/${id}/versions/`)),
  getVersion: (id: string, number: number) =>
    request<VersionDetail>(`/api/workflows/${id}/versions/${number}/`),
  restoreVersion: (id: string, number: number) =>
    request<WorkflowDetail>(`/api/workflows/${id}/versions/${number}/restore/`, { method: 'POST', body: {} }),

  /** `usePins`: pinned nodes give their pinned output instead of executing (a test run). */
  startRun: (workflowId: string, input: unknown, usePins = false) =>
    request<{ id: string; status: RunStatus }>(`/api/workflows/${workflowId}/runs/`, {
      method: 'POST',
      body: usePins ? { input, use_pins: true } : { input },
    }),
  listRuns: async (workflowId: string) =>
    pageOf(await request<Page<RunSummary> | RunSummary[]>('/api/runs/', { query: { workflow: workflowId } })),
  getRun: (runId: string, signal?: AbortSignal) => request<RunDetail>(`/api/runs/${runId}/`, { signal }),
  cancelRun: (runId: string) => request<unknown>(`/api/runs/${runId}/cancel/`, { method: 'POST', body: {} }),
};
