// The run events, a plain mirror of runtime/events.py and the payloads the engine emits
// (runtime/executor.py, runtime/step.py). One file on purpose: it may be generated from Python.

export const RUN_STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = [
  'pending',
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  // took a recorded, edited or pinned output instead of executing (a run made from another)
  'reused',
] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export const FINISHED_RUN_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);
export const FINISHED_STEP_STATUSES: ReadonlySet<string> = new Set([
  'succeeded',
  'failed',
  'skipped',
  'cancelled',
  'reused',
]);
/** A reused step stands for a recorded success: it counts as succeeded wherever outcomes count. */
export const SUCCEEDED_STEP_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'reused']);

export interface StepError {
  code?: string;
  message: string;
  retryable?: boolean;
  [key: string]: unknown;
}

export interface ModelFigures {
  tokens_in: number;
  tokens_out: number;
  cost: number;
}

export interface Totals extends ModelFigures {
  by_model: Record<string, ModelFigures>;
  /** steps reused from another run (or pinned), and what they cost when they ran */
  reused?: number;
  reused_cost?: number;
}

/** Where a reused step's output came from (see api/timeTravel.ts). */
export interface ReusedLink {
  kind: 'recorded' | 'edited' | 'pinned';
  run: string | null;
  step: string | null;
  /** a recorded step: what it spent where it ran (what reusing it saved) */
  cost?: number;
  tokens_in?: number;
  tokens_out?: number;
}

/** The workflow a subflow step runs as steps of the run, at the version pinned for the run. */
export interface FlowRef {
  workflow: string;
  name: string;
  number: number;
  /** a workflow tool call: the id of the calling step's tool call it is */
  tool_call?: string;
}

/** A piece of a step's streamed answer (not stored: step.chunk events carry no seq).
 *
 * Live chunks number themselves per attempt (`index` 0, 1, …). A socket that connects while the
 * step streams first gets one `snapshot`: the whole text so far, holding the first `chunks`
 * chunks; it replaces what the view had, and live chunks below `chunks` are already in it. */
export interface StreamedText {
  text: string;
  attempt?: number;
  round?: number;
  index?: number;
  snapshot?: boolean;
  chunks?: number;
  /** the server stopped keeping the text past its size limit: the snapshot holds only the start */
  truncated?: boolean;
}

export interface EventDataByType {
  'run.started': {
    input: unknown;
    version?: number;
    /** a run made from an earlier one: which, from which step, how */
    source?: { run: string | null; step: string | null; mode: string };
  };
  'run.succeeded': { output: unknown; totals: Totals };
  'run.failed': { error: StepError & { step?: string; node?: string } };
  'run.cancelled': Record<string, never>;
  'run.waiting': { steps: string[] };
  /** a step made ready (or put back in the queue after its worker was lost: `reason`) */
  'step.queued': { parent?: string | null; reason?: string; attempt?: number };
  'step.started': { attempt: number; input: unknown; parent: string | null; round: number };
  'step.chunk': StreamedText;
  'step.retrying': { attempt: number; error: StepError; delay: number };
  'step.succeeded': {
    output: unknown;
    branch: string | null;
    attempt: number;
    model: string | null;
    tokens_in: number;
    tokens_out: number;
    cost: number;
    duration_ms: number | null;
    /** the node's settings fingerprint: what a later re-run compares to reuse the step */
    fingerprint?: string;
  };
  /** the step took an output instead of executing: recorded in another run, edited, or pinned */
  'step.reused': {
    input: unknown;
    fingerprint: string;
    output: unknown;
    branch: string | null;
    from: ReusedLink;
    saved_cost: number;
    saved_tokens: number;
  };
  'step.failed': { error: StepError; attempt: number };
  'step.skipped': Record<string, never>;
  'step.cancelled': { reason?: string };
  'step.waiting': { request: unknown };
  /** tasks handed out: the server lists the first 1,000 (`tasks`) and counts all (`count`); the
   * in-process engine lists all and sends no count */
  'step.delegated': {
    tasks: { step: string; node: string }[];
    count?: number;
    round?: number;
    /** what the step resumes from (a loop: its iteration) */
    state?: unknown;
    /** a subflow step handing its flow to the run: which workflow and version (no tasks) */
    flow?: FlowRef;
  };
  'step.resumed': { round: number };
  /** a worker's tool call: `running`, then `succeeded` or `failed` (same `id`) */
  'step.tool_call': ToolCallData;
}

/** One tool call of a worker step (runtime/tools/toolbox.py). */
export interface ToolCallData {
  id: string;
  /** the name the model called it by */
  tool: string;
  /** how the worker's settings name it: calculator, mcp:server/tool, http:name, workflow:id */
  ref: string | null;
  kind: 'builtin' | 'mcp' | 'http' | 'workflow' | null;
  status: 'running' | 'succeeded' | 'failed';
  arguments: unknown;
  result?: string;
  error?: string;
  duration_ms?: number;
  index?: number;
  attempt?: number;
  round?: number;
  /** a server whose tools could not be listed when the step began */
  phase?: 'listing';
}

export type EventType = keyof EventDataByType;

export const EVENT_TYPES: readonly EventType[] = [
  'run.started',
  'run.succeeded',
  'run.failed',
  'run.cancelled',
  'run.waiting',
  'step.queued',
  'step.started',
  'step.chunk',
  'step.retrying',
  'step.succeeded',
  'step.failed',
  'step.skipped',
  'step.cancelled',
  'step.waiting',
  'step.delegated',
  'step.resumed',
  'step.reused',
  'step.tool_call',
];

/** One event as the WebSocket and the event log send it. */
export type RunEvent = {
  [T in EventType]: {
    /** the event's place in the run's log; null for streamed chunks, which are not logged */
    seq: T extends 'step.chunk' ? number | null : number;
    type: T;
    run: string;
    /** the step id for step.* events, null for run.* events */
    step: string | null;
    node: string | null;
    /** the run's or step's status after the event */
    status: string | null;
    data: EventDataByType[T];
    /** seconds since the epoch */
    ts: number;
    /** sent without its data, too long for a WebSocket message (its length): read it whole
     * from the events API (runSocket.ts does) */
    clipped?: number;
  };
}[EventType];

export type EventOf<T extends EventType> = Extract<RunEvent, { type: T }>;

export function isRunEvent(value: unknown): value is RunEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    (typeof v.seq === 'number' || (v.seq === null && v.type === 'step.chunk')) &&
    typeof v.type === 'string' &&
    (EVENT_TYPES as readonly string[]).includes(v.type)
  );
}
