// The run view as a pure reducer: (state, event) → state.
//
// A view starts empty or from a snapshot (GET /api/runs/<id>/), then takes events in seq order;
// an event at or below the last seq applied is ignored, so replaying the stream after a
// reconnect (or over a snapshot) never counts anything twice. From the steps it derives what the
// canvas shows per node: a status, duration, tokens and cost, the delegations a manager made and
// the cost of its whole subtree.
//
// Streamed chunks (step.chunk) have no seq: they are placed by their index within the step's
// attempt instead. A socket that connects mid-step first gets a snapshot of the text so far,
// which replaces the attempt's text; live chunks it already holds are dropped by index.

import {
  FINISHED_RUN_STATUSES,
  FINISHED_STEP_STATUSES,
  RUN_STATUSES,
  STEP_STATUSES,
  type EventOf,
  type RunEvent,
  type ReusedLink,
  type RunStatus,
  type StepError,
  type StepStatus,
  type Totals,
} from '../api/events';
import type { RunDetail, StepRecord } from '../api/resources';

export type NodeStatus = StepStatus | 'idle';

export interface RetryRecord {
  attempt: number;
  error: StepError;
  delay: number;
  ts: number;
}

/** Where the streamed text of the step's current attempt stands. */
export interface StreamMark {
  round: number;
  attempt: number;
  /** where in `text` this attempt's streamed text begins (earlier attempts' text comes before) */
  from: number;
  /** how many of this attempt's chunks `text` holds */
  chunks: number;
}

/** Put where streamed text is missing: a snapshot cut at the server's limit, or a lost chunk. */
export const STREAM_GAP = ' […] ';

export interface StepView {
  id: string;
  node: string;
  type: string | null;
  parent: string | null;
  status: StepStatus;
  attempt: number;
  round: number;
  input: unknown;
  output: unknown;
  branch: string | null;
  error: StepError | null;
  model: string | null;
  tokens_in: number;
  tokens_out: number;
  cost: number;
  duration_ms: number | null;
  /** seconds since the epoch */
  startedAt: number | null;
  finishedAt: number | null;
  /** model output streamed by step.chunk */
  text: string;
  /** null until the step starts streaming (or starts, in this view) */
  stream: StreamMark | null;
  /** attempts that failed and were retried */
  retries: RetryRecord[];
  /** steps this one delegated to (a manager's tasks) */
  children: string[];
  /** what a waiting step asks a person */
  request: unknown;
  /** a reused step: where its output came from (another run's step, an edit, pinned data) */
  reusedFrom: ReusedLink | null;
}

export interface Figures {
  tokens_in: number;
  tokens_out: number;
  cost: number;
}

export interface ChildBadge {
  step: string;
  node: string;
  status: StepStatus;
}

export interface NodeView {
  node: string;
  status: NodeStatus;
  /** the step the node's panel opens: its top-level step, else its latest delegated one */
  step: string | null;
  steps: string[];
  attempt: number;
  duration_ms: number | null;
  startedAt: number | null;
  /** what this node's own steps spent */
  own: Figures;
  /** own plus everything delegated under it, however deep */
  subtree: Figures;
  /** tasks this node handed to workers */
  children: ChildBadge[];
  error: StepError | null;
  /** whether `step` is a step the flow started (not a delegated task): a run can restart there */
  topLevel: boolean;
  /** `step` reused an output instead of executing: where it came from */
  reusedFrom: ReusedLink | null;
}

/** Where a run made by time travel came from (GET /api/runs/<id>/ `source`, run.started data). */
export interface RunSourceView {
  run: string | null;
  step: string | null;
  mode: string;
}

export interface RunView {
  runId: string | null;
  status: RunStatus | 'idle';
  input: unknown;
  output: unknown;
  error: (StepError & { step?: string; node?: string }) | null;
  lastSeq: number;
  steps: Record<string, StepView>;
  /** step ids in the order they first appeared: the timeline */
  order: string[];
  nodes: Record<string, NodeView>;
  totals: Totals;
  /** the step whose output is streaming (or last streamed) */
  streaming: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  /** a run made from an earlier one (re-run, edit, retry, pinned data), else null */
  source: RunSourceView | null;
}

const ZERO: Figures = { tokens_in: 0, tokens_out: 0, cost: 0 };

export function emptyTotals(): Totals {
  return { tokens_in: 0, tokens_out: 0, cost: 0, by_model: {} };
}

export function initialRunView(runId: string | null = null): RunView {
  return {
    runId,
    status: 'idle',
    input: null,
    output: null,
    error: null,
    lastSeq: 0,
    steps: {},
    order: [],
    nodes: {},
    totals: emptyTotals(),
    streaming: null,
    startedAt: null,
    finishedAt: null,
    source: null,
  };
}

function newStep(id: string, node: string, parent: string | null = null): StepView {
  return {
    id,
    node,
    type: null,
    parent,
    status: 'pending',
    attempt: 0,
    round: 0,
    input: null,
    output: null,
    branch: null,
    error: null,
    model: null,
    tokens_in: 0,
    tokens_out: 0,
    cost: 0,
    duration_ms: null,
    startedAt: null,
    finishedAt: null,
    text: '',
    stream: null,
    retries: [],
    children: [],
    request: null,
    reusedFrom: null,
  };
}

/** Seconds since the epoch from an ISO string or a number (the API may send either). */
export function toSeconds(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

function addCost(a: number, b: number): number {
  return Math.round((a + b) * 1e10) / 1e10;
}

function add(a: Figures, b: Figures): Figures {
  return { tokens_in: a.tokens_in + b.tokens_in, tokens_out: a.tokens_out + b.tokens_out, cost: addCost(a.cost, b.cost) };
}

function figuresOf(step: StepView): Figures {
  return { tokens_in: step.tokens_in, tokens_out: step.tokens_out, cost: step.cost };
}

const ACTIVE: ReadonlySet<string> = new Set(['queued', 'running', 'waiting']);
const RESUMING: ReadonlySet<string> = new Set(['step.resumed', 'step.started', 'step.succeeded', 'step.failed']);

/** Everything a step and its delegated descendants spent. */
export function subtreeFigures(steps: Record<string, StepView>, id: string, seen = new Set<string>()): Figures {
  const step = steps[id];
  if (!step || seen.has(id)) return ZERO;
  seen.add(id);
  let total = figuresOf(step);
  for (const child of step.children) total = add(total, subtreeFigures(steps, child, seen));
  return total;
}

function durationOf(step: StepView): number | null {
  if (step.duration_ms !== null) return step.duration_ms;
  if (step.startedAt !== null && step.finishedAt !== null) {
    return Math.round((step.finishedAt - step.startedAt) * 1000 * 1000) / 1000;
  }
  return null;
}

/** Derive the per-node figures from the steps. */
export function deriveNodes(view: Pick<RunView, 'steps' | 'order' | 'status'>): Record<string, NodeView> {
  const byNode = new Map<string, StepView[]>();
  for (const id of view.order) {
    const step = view.steps[id];
    if (!step) continue;
    const list = byNode.get(step.node);
    if (list) list.push(step);
    else byNode.set(step.node, [step]);
  }
  const nodes: Record<string, NodeView> = {};
  for (const [node, steps] of byNode) {
    const topLevel = steps.filter((s) => s.parent === null);
    const main = topLevel[topLevel.length - 1] ?? steps[steps.length - 1];
    let status: NodeStatus = main.status;
    if (steps.some((s) => s.status === 'running')) status = 'running';
    else if (steps.some((s) => s.status === 'waiting')) status = 'waiting';
    else if (topLevel.length === 0 && steps.some((s) => s.status === 'queued')) status = 'queued';

    let own = ZERO;
    let subtree = ZERO;
    let summed: number | null = null;
    const children: ChildBadge[] = [];
    for (const step of steps) {
      own = add(own, figuresOf(step));
      subtree = add(subtree, subtreeFigures(view.steps, step.id));
      const duration = durationOf(step);
      if (duration !== null) summed = (summed ?? 0) + duration;
      for (const childId of step.children) {
        const child = view.steps[childId];
        if (child) children.push({ step: child.id, node: child.node, status: child.status });
      }
    }
    nodes[node] = {
      node,
      status,
      step: main.id,
      steps: steps.map((s) => s.id),
      attempt: main.attempt,
      duration_ms: topLevel.length ? durationOf(main) : summed,
      startedAt: main.startedAt,
      own,
      subtree,
      children,
      error: main.error,
      topLevel: topLevel.length > 0,
      reusedFrom: main.reusedFrom,
    };
  }
  return nodes;
}

/** The status a node shows on the canvas, including nodes no step has reached yet. */
export function nodeStatus(view: RunView, nodeId: string): NodeStatus {
  const node = view.nodes[nodeId];
  if (node) return node.status;
  if (view.status === 'idle') return 'idle';
  return FINISHED_RUN_STATUSES.has(view.status) ? 'idle' : 'pending';
}

function stepStatusOf(event: RunEvent, fallback: StepStatus): StepStatus {
  return (STEP_STATUSES as readonly string[]).includes(event.status ?? '') ? (event.status as StepStatus) : fallback;
}

function runStatusOf(event: RunEvent, fallback: RunStatus): RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(event.status ?? '') ? (event.status as RunStatus) : fallback;
}

/** The totals summed from the steps; what reused steps saved is not in the steps (they cost 0),
 * so it is carried over from `before` plus `saved` (a step.reused event's saved_cost). */
function liveTotals(steps: Record<string, StepView>, before: Totals, saved = 0): Totals {
  const totals = emptyTotals();
  let reused = 0;
  for (const step of Object.values(steps)) {
    if (step.status === 'reused') reused += 1;
    totals.tokens_in += step.tokens_in;
    totals.tokens_out += step.tokens_out;
    totals.cost = addCost(totals.cost, step.cost);
    if (step.model && (step.tokens_in || step.tokens_out || step.cost)) {
      const per = (totals.by_model[step.model] ??= { tokens_in: 0, tokens_out: 0, cost: 0 });
      per.tokens_in += step.tokens_in;
      per.tokens_out += step.tokens_out;
      per.cost = addCost(per.cost, step.cost);
    }
  }
  if (reused || before.reused) {
    totals.reused = reused;
    totals.reused_cost = addCost(before.reused_cost ?? 0, saved);
  }
  return totals;
}

/** The stream mark a chunk of (round, attempt) belongs to; null for a chunk of an earlier one. */
function streamFor(step: StepView, round: number, attempt: number): StreamMark | null {
  const mark = step.stream;
  if (mark && (round < mark.round || (round === mark.round && attempt < mark.attempt))) return null;
  if (mark && round === mark.round && attempt === mark.attempt) return mark;
  return { round, attempt, from: step.text.length, chunks: 0 };
}

/** A chunk applied to its step; the same step object when the chunk changes nothing. */
function withChunk(step: StepView, data: EventOf<'step.chunk'>['data']): StepView {
  const text = data.text ?? '';
  if (typeof data.index !== 'number' && !data.snapshot) return { ...step, text: step.text + text };
  const mark = streamFor(step, data.round ?? 0, data.attempt ?? step.attempt);
  if (mark === null) return step;
  if (data.snapshot) {
    // what this view streamed of the attempt so far is replaced by the server's whole copy
    if (isStepFinished(step)) return step; // its stored output came first and is the truth
    const kept = step.text.slice(0, mark.from) + text + (data.truncated ? STREAM_GAP : '');
    return { ...step, text: kept, stream: { ...mark, chunks: data.chunks ?? 0 } };
  }
  const index = data.index!;
  if (index < mark.chunks) return step; // already here (it was in a snapshot)
  const gap = index > mark.chunks ? STREAM_GAP : '';
  return { ...step, text: step.text + gap + text, stream: { ...mark, chunks: index + 1 } };
}

function applyStepEvent(state: RunView, event: RunEvent): RunView {
  const id = event.step!;
  const known = state.steps[id];
  const parentHint = event.type === 'step.started' ? (event.data.parent ?? null) : null;
  let step: StepView = known ? { ...known } : newStep(id, event.node ?? id, parentHint);
  if (!step.node && event.node) step.node = event.node;
  const steps = { ...state.steps };
  let order = known ? state.order : [...state.order, id];
  let streaming = state.streaming;

  let saved = 0;

  switch (event.type) {
    case 'step.queued': {
      const data = (event as EventOf<'step.queued'>).data;
      step.status = stepStatusOf(event, 'queued');
      if (data?.parent) step.parent = data.parent;
      break;
    }
    case 'step.reused': {
      // done at once with an output it did not compute: no tokens, no cost, no time
      const data = (event as EventOf<'step.reused'>).data;
      step.status = stepStatusOf(event, 'reused');
      step.input = data.input;
      step.output = data.output;
      step.branch = data.branch ?? null;
      step.reusedFrom = data.from ?? null;
      step.tokens_in = 0;
      step.tokens_out = 0;
      step.cost = 0;
      step.duration_ms = 0;
      step.startedAt ??= event.ts;
      step.finishedAt = event.ts;
      step.error = null;
      saved = data.saved_cost ?? 0;
      break;
    }
    case 'step.started': {
      const data = (event as EventOf<'step.started'>).data;
      step.status = stepStatusOf(event, 'running');
      step.attempt = data.attempt ?? step.attempt + 1;
      step.round = data.round ?? step.round;
      step.input = data.input;
      if (data.parent !== undefined && data.parent !== null) step.parent = data.parent;
      step.startedAt ??= event.ts;
      step.finishedAt = null;
      step.error = null;
      // a snapshot of this very attempt may have come first: keep what it set
      const mark = streamFor(step, step.round, step.attempt);
      if (mark && mark !== step.stream) step.stream = mark;
      streaming = id;
      break;
    }
    case 'step.chunk': {
      const next = withChunk(step, (event as EventOf<'step.chunk'>).data);
      if (known && next === step) return state; // nothing new (a repeat, or stale)
      steps[id] = next;
      // chunks change no figures: keep the derived nodes as they are
      return { ...state, steps, order, streaming: id, lastSeq: event.seq ?? state.lastSeq };
    }
    case 'step.retrying': {
      const data = (event as EventOf<'step.retrying'>).data;
      step.status = stepStatusOf(event, 'running');
      step.retries = [...step.retries, { attempt: data.attempt, error: data.error, delay: data.delay, ts: event.ts }];
      if (step.text) step.text += `\n\n⟲ attempt ${data.attempt} failed (${data.error?.message ?? 'error'}); retrying\n\n`;
      break;
    }
    case 'step.succeeded': {
      const data = (event as EventOf<'step.succeeded'>).data;
      step.status = stepStatusOf(event, 'succeeded');
      step.output = data.output;
      step.branch = data.branch ?? null;
      step.attempt = data.attempt ?? step.attempt;
      step.model = data.model ?? step.model;
      step.tokens_in = data.tokens_in ?? 0;
      step.tokens_out = data.tokens_out ?? 0;
      step.cost = data.cost ?? 0;
      step.duration_ms = data.duration_ms ?? null;
      step.finishedAt = event.ts;
      step.error = null;
      break;
    }
    case 'step.failed': {
      const data = (event as EventOf<'step.failed'>).data;
      step.status = stepStatusOf(event, 'failed');
      step.error = data.error ?? { message: 'failed' };
      step.attempt = data.attempt ?? step.attempt;
      step.finishedAt = event.ts;
      break;
    }
    case 'step.skipped':
      step.status = stepStatusOf(event, 'skipped');
      step.finishedAt = event.ts;
      break;
    case 'step.cancelled':
      step.status = stepStatusOf(event, 'cancelled');
      step.finishedAt = event.ts;
      break;
    case 'step.waiting':
      step.status = stepStatusOf(event, 'waiting');
      step.request = (event as EventOf<'step.waiting'>).data.request ?? null;
      break;
    case 'step.resumed':
      step.status = stepStatusOf(event, 'running');
      step.round = (event as EventOf<'step.resumed'>).data.round ?? step.round + 1;
      step.request = null;
      break;
    case 'step.delegated': {
      const tasks = (event as EventOf<'step.delegated'>).data.tasks ?? [];
      step.status = stepStatusOf(event, step.status === 'pending' ? 'running' : step.status);
      const children = [...step.children];
      for (const task of tasks) {
        if (!children.includes(task.step)) children.push(task.step);
        if (!steps[task.step]) {
          const child = newStep(task.step, task.node, id);
          child.status = 'queued';
          steps[task.step] = child;
          order = order.includes(task.step) ? order : [...order, task.step];
        } else if (steps[task.step].parent === null) {
          steps[task.step] = { ...steps[task.step], parent: id };
        }
      }
      step.children = children;
      break;
    }
    default:
      break;
  }
  steps[id] = step;
  if (step.parent && steps[step.parent] && !steps[step.parent].children.includes(id)) {
    steps[step.parent] = { ...steps[step.parent], children: [...steps[step.parent].children, id] };
  }
  const next: RunView = { ...state, steps, order, streaming, lastSeq: event.seq ?? state.lastSeq };
  next.nodes = deriveNodes(next);
  if (!FINISHED_RUN_STATUSES.has(state.status)) next.totals = liveTotals(steps, state.totals, saved);
  return next;
}

/** Apply one event. Events at or below `lastSeq`, or for another run, leave the state as it is
 * (streamed chunks have no seq: their index within the attempt places them). */
export function applyEvent(state: RunView, event: RunEvent): RunView {
  if (event.seq !== null && event.seq <= state.lastSeq) return state;
  if (state.runId && event.run && event.run !== state.runId) return state;
  if (event.type.startsWith('step.')) {
    if (!event.step) return { ...state, lastSeq: event.seq ?? state.lastSeq };
    const next = applyStepEvent(state, event);
    if (next.status === 'idle' || next.status === 'queued') next.status = 'running';
    // a decision came (there is no run-level "resumed" event): the run goes on once nothing waits
    if (next.status === 'waiting' && RESUMING.has(event.type) && !Object.values(next.steps).some((s) => s.status === 'waiting')) {
      next.status = 'running';
      next.nodes = deriveNodes(next);
    }
    return next;
  }
  const next: RunView = { ...state, lastSeq: event.seq ?? state.lastSeq, runId: state.runId ?? event.run };
  switch (event.type) {
    case 'run.started':
      next.status = runStatusOf(event, 'running');
      next.input = event.data.input;
      next.startedAt ??= event.ts;
      if (event.data.source) next.source = event.data.source;
      break;
    case 'run.succeeded':
      next.status = runStatusOf(event, 'succeeded');
      next.output = event.data.output;
      if (event.data.totals) next.totals = event.data.totals;
      next.finishedAt = event.ts;
      next.streaming = null;
      break;
    case 'run.failed':
      next.status = runStatusOf(event, 'failed');
      next.error = event.data.error ?? { message: 'The run failed.' };
      next.finishedAt = event.ts;
      next.streaming = null;
      break;
    case 'run.cancelled':
      next.status = runStatusOf(event, 'cancelled');
      next.finishedAt = event.ts;
      next.streaming = null;
      break;
    case 'run.waiting':
      next.status = runStatusOf(event, 'waiting');
      break;
    default:
      break;
  }
  if (next.status !== state.status) next.nodes = deriveNodes(next);
  return next;
}

export function applyEvents(state: RunView, events: Iterable<RunEvent>): RunView {
  let result = state;
  for (const event of events) result = applyEvent(result, event);
  return result;
}

function stepFromRecord(record: StepRecord): StepView {
  return {
    ...newStep(record.id, record.node, record.parent ?? null),
    type: record.type ?? null,
    status: record.status,
    attempt: record.attempt ?? 0,
    input: record.input,
    output: record.output,
    branch: record.branch ?? null,
    error: record.error ?? null,
    model: record.model ?? null,
    tokens_in: record.tokens_in ?? 0,
    tokens_out: record.tokens_out ?? 0,
    cost: record.cost ?? 0,
    duration_ms: record.duration_ms ?? null,
    startedAt: toSeconds(record.started_at),
    finishedAt: toSeconds(record.finished_at),
    request: record.status === 'waiting' ? (record.request ?? null) : null,
    reusedFrom: record.reused_from ?? null,
  };
}

/** A view of the run as the server stored it; events after `last_seq` continue from here. */
export function fromSnapshot(detail: RunDetail): RunView {
  const steps: Record<string, StepView> = {};
  const records = [...(detail.steps ?? [])];
  // timeline order: by start time, steps not started (skipped, queued) after those started before them
  const indexed = records.map((record, index) => ({ record, index, start: toSeconds(record.started_at) }));
  indexed.sort((a, b) => {
    if (a.start !== null && b.start !== null && a.start !== b.start) return a.start - b.start;
    return a.index - b.index;
  });
  for (const { record } of indexed) steps[record.id] = stepFromRecord(record);
  for (const step of Object.values(steps)) {
    if (step.parent && steps[step.parent] && !steps[step.parent].children.includes(step.id)) {
      steps[step.parent].children.push(step.id);
    }
  }
  const view: RunView = {
    ...initialRunView(detail.id),
    status: detail.status,
    input: detail.input ?? null,
    output: detail.output ?? null,
    error: detail.error ?? null,
    lastSeq: detail.last_seq ?? 0,
    steps,
    order: indexed.map(({ record }) => record.id),
    totals: detail.totals ?? emptyTotals(),
    startedAt: toSeconds(detail.started_at ?? null),
    finishedAt: toSeconds(detail.finished_at ?? null),
    source: detail.source ?? null,
  };
  const running = indexed.map(({ record }) => record).filter((r) => r.status === 'running');
  view.streaming = running.length ? running[running.length - 1].id : null;
  view.nodes = deriveNodes(view);
  return view;
}

export function isFinished(view: RunView): boolean {
  return FINISHED_RUN_STATUSES.has(view.status);
}

export function isStepFinished(step: StepView): boolean {
  return FINISHED_STEP_STATUSES.has(step.status);
}

export function isActive(status: string): boolean {
  return ACTIVE.has(status);
}

/** Depth of a step in the delegation tree (0 for steps the flow started). */
export function depthOf(view: RunView, id: string): number {
  let depth = 0;
  let step = view.steps[id];
  const seen = new Set<string>();
  while (step?.parent && !seen.has(step.parent)) {
    seen.add(step.parent);
    depth += 1;
    step = view.steps[step.parent];
  }
  return depth;
}
