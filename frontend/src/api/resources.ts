// Typed calls for every endpoint the app uses. Shapes mirror the REST contract; fields the
// contract does not promise are optional so the app degrades instead of crashing.

import { request } from './client';
import type { FlowRef, ReusedLink, RunEvent, RunStatus, StepError, StepStatus, ToolCallData, Totals } from './events';
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
  /** the save's message ("Created", "Imported", "Restored version 2", or what the author typed) */
  note?: string;
  /** how many problems the version has (0: it can run) */
  issue_count?: number;
  /** the name given to it ("v2 – added approval"), or empty */
  name?: string;
  /** published: what API calls, webhooks and the MCP endpoint run; draft: saved, runnable, not
   * published; invalid: has problems; empty: nothing on the canvas */
  state?: VersionState;
}

export type VersionState = 'published' | 'draft' | 'invalid' | 'empty';

/** The version callers (API, webhooks, MCP) run; absent or null: none, they run the latest. */
export interface PublishedVersion {
  number: number;
  name: string;
  published_at: string;
  published_by: string | null;
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
  /** whether it has a webhook trigger (absent: unknown, ask) */
  has_webhook?: boolean;
  published?: PublishedVersion | null;
}

export function versionOf(workflow: Pick<WorkflowSummary, 'version' | 'current_version'> | null | undefined): number | null {
  return workflow?.version ?? workflow?.current_version?.number ?? null;
}

export interface WorkflowDetail extends WorkflowSummary {
  graph: Graph | null;
  issues?: Issue[];
  /** what runs but is likely not meant (never stops a save or a run) */
  warnings?: Issue[];
  /** what stops a run here as things are set up now (a model nothing can call) */
  run_issues?: Issue[];
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
  warnings?: Issue[];
  run_issues?: Issue[];
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
  /** its tool calls as their events last said them, in the order they were made */
  tool_calls?: ToolCallData[];
  /** the attempts that failed and were tried again (ts in seconds), oldest first */
  retries?: { attempt: number; error: StepError; delay: number; ts: number }[];
}

export interface RunSummary {
  id: string;
  status: RunStatus;
  /** how a finished run ended: succeeded, rejected (an approval gate was rejected), failed or
   * cancelled; null until it finishes */
  outcome?: 'succeeded' | 'rejected' | 'failed' | 'cancelled' | null;
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

/** A row of the runs list (GET /api/runs/): the summary and what the runs page shows of it. */
export interface RunRow extends RunSummary {
  workflow_name: string;
  started_by: string | null;
  input_preview: string;
}

/** The runs list's filters (orchestrator.run_list); empty ones are left out. */
export interface RunFilters {
  workflow?: string;
  outcome?: string;
  started_by?: string;
  trigger?: string;
  since?: string;
  until?: string;
  search?: string;
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
  /** the run's OpenTelemetry trace id; null when tracing was off at its start */
  trace_id?: string | null;
  /** the trace in the operator's trace viewer (TRACE_URL_TEMPLATE), or null */
  trace_url?: string | null;
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

  listWorkflows: async (pageUrl?: string, search?: string) =>
    pageOf(
      await request<Page<WorkflowSummary> | WorkflowSummary[]>(pageUrl ? samePath(pageUrl) : '/api/workflows/', {
        query: !pageUrl && search ? { search } : undefined,
      }),
    ),
  createWorkflow: (body: { name: string; description?: string; graph?: Graph }) =>
    request<WorkflowDetail>('/api/workflows/', { method: 'POST', body }),
  getWorkflow: (id: string) => request<WorkflowDetail>(`/api/workflows/${id}/`),
  /** `base_version`: the version the edit started from; a newer one on the server answers 409. */
  saveWorkflow: (id: string, body: { name?: string; graph: Graph; base_version?: number; note?: string }) =>
    request<SaveResult>(`/api/workflows/${id}/`, { method: 'PUT', body }),
  renameWorkflow: (id: string, name: string) =>
    request<WorkflowDetail>(`/api/workflows/${id}/`, { method: 'PATCH', body: { name } }),
  deleteWorkflow: (id: string) => request<void>(`/api/workflows/${id}/`, { method: 'DELETE' }),
  duplicateWorkflow: (id: string) =>
    request<WorkflowDetail>(`/api/workflows/${id}/duplicate/`, { method: 'POST', body: {} }),
  exportWorkflow: (id: string) => request<unknown>(`/api/workflows/${id}/export/`),
  importWorkflow: (body: { name?: string; description?: string; graph: Graph }) =>
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
  /** makes the version the one API calls, webhooks and the MCP endpoint run; a blank name keeps its name */
  publishVersion: (id: string, number: number, name: string) =>
    request<WorkflowDetail>(`/api/workflows/${id}/versions/${number}/publish/`, { method: 'POST', body: name.trim() ? { name: name.trim() } : {} }),
  unpublish: (id: string) => request<WorkflowDetail>(`/api/workflows/${id}/unpublish/`, { method: 'POST', body: {} }),

  /** `usePins`: pinned nodes give their pinned output instead of executing (a test run). */
  /** `version`: left out, the published version if there is one, else the latest (what callers
   * get); the editor's Run asks for 'latest' */
  startRun: (workflowId: string, input: unknown, usePins = false, version?: 'latest' | 'published' | number) =>
    request<{ id: string; status: RunStatus }>(`/api/workflows/${workflowId}/runs/`, {
      method: 'POST',
      body: { input, ...(usePins ? { use_pins: true } : {}), ...(version !== undefined ? { version } : {}) },
    }),
  listRuns: async (workflowId: string) =>
    pageOf(await request<Page<RunSummary> | RunSummary[]>('/api/runs/', { query: { workflow: workflowId } })),
  /** every run of my workspaces' workflows, newest first, narrowed by the runs page's filters */
  searchRuns: async (filters: RunFilters, pageUrl?: string, signal?: AbortSignal) =>
    pageOf(
      await request<Page<RunRow> | RunRow[]>(pageUrl ? samePath(pageUrl) : '/api/runs/', {
        query: pageUrl ? undefined : { ...filters },
        signal,
      }),
    ),
  getRun: (runId: string, signal?: AbortSignal) => request<RunDetail>(`/api/runs/${runId}/`, { signal }),
  /** one event of the run's log, whole */
  getRunEvent: async (runId: string, seq: number): Promise<RunEvent | null> => {
    const page = await request<{ events: RunEvent[] }>(`/api/runs/${runId}/events/?after=${seq - 1}&limit=1`);
    return page.events[0]?.seq === seq ? page.events[0] : null;
  },
  cancelRun: (runId: string) => request<unknown>(`/api/runs/${runId}/cancel/`, { method: 'POST', body: {} }),
};
