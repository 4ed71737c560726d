// The run view as a pure reducer: (state, event) → state.
//
// A view starts empty or from a snapshot (GET /api/runs/<id>/), then takes events in seq order;
// an event at or below the last seq applied is ignored, so replaying the stream after a
// reconnect (or over a snapshot) never counts anything twice. From the steps it derives what the
// canvas shows per node: a status, duration, tokens and cost, the delegations a manager made and
// the cost of its whole subtree.
//
// A sub-flow's steps are steps of the run too (keys `<subflow step>/<node>`), but their node ids
// are the sub-flow's, not the canvas's: they stay under their subflow step (its children, its
// subtree, its flow's progress) and are never counted on a canvas node that shares the id.
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
  type FlowRef,
  type RunEvent,
  type ReusedLink,
  type RunStatus,
  type StepError,
  type StepStatus,
  type ToolCallData,
  type Totals,
} from '../api/events';
import type { RunDetail, StepRecord } from '../api/resources';
import { approvalRequestOf } from '../api/approvals';
import { progressOf, type Progress } from './iteration';

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
  /** steps this one delegated to (a manager's tasks, a map's items, a loop's iterations) */
  children: string[];
  /** how many tasks it handed out, counted by its step.delegated events: a map of 10,000 items
   * lists only the first 1,000, and the rest are not known until their turn (0: not counted) */
  expected: number;
  /** what a waiting step asks a person */
  request: unknown;
  /** a reused step: where its output came from (another run's step, an edit, pinned data) */
  reusedFrom: ReusedLink | null;
  /** the subflow step whose flow this step belongs to (its node id is that flow's), else null */
  inFlow: string | null;
  /** a subflow step running its flow as steps of the run: which workflow and version */
  flow: FlowRef | null;
  /** a worker's tool calls, in the order they started (each as last heard: running or done) */
  toolCalls: ToolCallData[];
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

/** How far a subflow step's flow is: its own steps (not the tasks they delegate), and what waits
 * for a person anywhere under it (a gate in a nested sub-flow or a map item too). */
export interface FlowProgress {
  /** the flow's steps heard of so far (its graph may have more not reached yet) */
  known: number;
  /** finished one way or another: succeeded (or reused), failed, cancelled or skipped */
  finished: number;
  failed: number;
  running: number;
  /** steps under the subflow step, at any depth, waiting for an approval: in timeline order */
  asking: string[];
}

export interface FlowView {
  /** the workflow and version the subflow step runs */
  ref: FlowRef;
  progress: FlowProgress;
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
  /** how far the tasks of its step are (a map's items, a loop's iterations); null: it handed none out */
  progress: Progress | null;
  error: StepError | null;
  /** an approval gate that was rejected: its card shows ✗, though its step succeeded */
  rejected: boolean;
  /** whether `step` is a step the flow started (not a delegated task): a run can restart there */
  topLevel: boolean;
  /** `step` reused an output instead of executing: where it came from */
  reusedFrom: ReusedLink | null;
  /** a subflow node whose step runs its flow as steps: which flow, and how far it is */
  flow: FlowView | null;
  /** a worker's tool calls (of its main step) */
  toolCalls: ToolCallData[];
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

/** The subflow step whose flow a step belongs to, from its key (`check/verify` → `check`,
 * `each.sub.2/check` → `each.sub.2`): node ids have no "/", so only a sub-flow's keys do. */
export function flowOfKey(id: string): string | null {
  const at = id.lastIndexOf('/');
  return at > 0 ? id.slice(0, at) : null;
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
    expected: 0,
    request: null,
    reusedFrom: null,
    inFlow: flowOfKey(id),
    flow: null,
    toolCalls: [],
  };
}

/** The step with a tool call added, or replacing the one with the same id (its end). */
export function withToolCall(step: StepView, call: ToolCallData): StepView {
  const calls = step.toolCalls ?? [];
  const at = calls.findIndex((c) => c.id === call.id && c.phase === call.phase);
  const next = at < 0 ? [...calls, call] : calls.map((c, i) => (i === at ? call : c));
  return { ...step, toolCalls: next };
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

/** Whether a step waits for a person's approval (not a manager or map waiting for its tasks). */
export function asksApproval(step: StepView): boolean {
  return step.status === 'waiting' && approvalRequestOf(step.request) !== null;
}

/** How far a subflow step's flow is, and the approvals waiting anywhere under it. */
export function flowProgressOf(steps: Readonly<Record<string, StepView>>, flowStep: StepView): FlowProgress {
  const p: FlowProgress = { known: 0, finished: 0, failed: 0, running: 0, asking: [] };
  for (const id of flowStep.children) {
    const step = steps[id];
    if (!step || step.inFlow !== flowStep.id) continue;
    p.known += 1;
    if (FINISHED_STEP_STATUSES.has(step.status)) p.finished += 1;
    if (step.status === 'failed') p.failed += 1;
    if (step.status === 'running') p.running += 1;
  }
  const seen = new Set<string>([flowStep.id]);
  const walk = (ids: readonly string[]) => {
    for (const id of ids) {
      const step = steps[id];
      if (!step || seen.has(id)) continue;
      seen.add(id);
      if (asksApproval(step)) p.asking.push(id);
      if (step.children.length) walk(step.children);
    }
  };
  walk(flowStep.children);
  return p;
}

/** Derive the per-node figures from the steps. */
export function deriveNodes(view: Pick<RunView, 'steps' | 'order' | 'status'>): Record<string, NodeView> {
  const byNode = new Map<string, StepView[]>();
  for (const id of view.order) {
    const step = view.steps[id];
    // a sub-flow's steps belong to its subflow step, not to a canvas node sharing their node id
    if (!step || step.inFlow !== null) continue;
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
      progress: !main.flow && (main.children.length || main.expected) ? progressOf(view.steps, main) : null,
      error: main.error,
      rejected: topLevel.length > 0 && isRejectedGate(main),
      topLevel: topLevel.length > 0,
      reusedFrom: main.reusedFrom,
      flow: main.flow ? { ref: main.flow, progress: flowProgressOf(view.steps, main) } : null,
      toolCalls: main.toolCalls ?? [],
    };
  }
  return nodes;
}

/** An approval gate's step that ended by its "rejected" branch (a person, or its deadline). */
export function isRejectedGate(step: Pick<StepView, 'type' | 'branch' | 'status'>): boolean {
  return step.type === 'approval' && step.branch === 'rejected' && (step.status === 'succeeded' || step.status === 'reused');
}

/** How a finished run ended, as the server's `outcome` says it: a run that went through a
 * rejected gate succeeded as a run, but its outcome is "rejected". Null while it is not over. */
export function runOutcome(view: Pick<RunView, 'status' | 'steps'>): 'succeeded' | 'rejected' | 'failed' | 'cancelled' | null {
  // a gate of the flow itself: a map item's or a sub-flow's rejection is that item's or flow's data
  const ended = (s: StepView) => s.parent === null && s.inFlow === null && isRejectedGate(s);
  if (view.status === 'succeeded') return Object.values(view.steps).some(ended) ? 'rejected' : 'succeeded';
  if (view.status === 'failed' || view.status === 'cancelled') return view.status;
  return null;
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

/**
 * One batch of events applied to a run view. The view is immutable for its readers, but copying
 * every step map, timeline and task list per event made a map of 1,000 items cost seconds (and
 * 10,000 items minutes) of work in the page: the batch copies each of them at most once, changes
 * its own copies in place, and derives the per-node figures and the totals once at its end.
 */
class Batch {
  readonly view: RunView;
  /** objects (step views, task lists, the timeline) made in this batch: changed in place */
  private readonly owned = new WeakSet<object>();
  private changed = false;
  /** steps changed their figures or statuses: the nodes are derived again at the end */
  private derive = false;
  /** a step changed while the run was under way: the totals are summed again at the end */
  private totals = false;
  private totalsBefore: Totals;
  private saved = 0;

  constructor(private readonly state: RunView) {
    this.view = { ...state, steps: { ...state.steps } };
    this.totalsBefore = state.totals;
  }

  /** The view after the batch: the state it began from if no event changed anything. */
  finish(): RunView {
    this.flush();
    return this.changed ? this.view : this.state;
  }

  apply(event: RunEvent): void {
    const view = this.view;
    if (event.seq !== null && event.seq <= view.lastSeq) return;
    if (view.runId && event.run && event.run !== view.runId) return;
    if (event.type.startsWith('step.')) {
      if (!event.step) {
        this.setSeq(event);
        return;
      }
      this.applyStep(event);
      if (view.status === 'idle' || view.status === 'queued') view.status = 'running';
      // a decision came (there is no run-level "resumed" event): the run goes on once nothing waits
      if (view.status === 'waiting' && RESUMING.has(event.type) && !Object.values(view.steps).some((s) => s.status === 'waiting')) {
        view.status = 'running';
        this.derive = true;
      }
      return;
    }
    this.flush();
    this.changed = true;
    const before = view.status;
    view.lastSeq = event.seq ?? view.lastSeq;
    view.runId = view.runId ?? event.run;
    switch (event.type) {
      case 'run.started':
        view.status = runStatusOf(event, 'running');
        view.input = event.data.input;
        view.startedAt ??= event.ts;
        if (event.data.source) view.source = event.data.source;
        break;
      case 'run.succeeded':
        view.status = runStatusOf(event, 'succeeded');
        view.output = event.data.output;
        if (event.data.totals) view.totals = event.data.totals;
        view.finishedAt = event.ts;
        view.streaming = null;
        break;
      case 'run.failed':
        view.status = runStatusOf(event, 'failed');
        view.error = event.data.error ?? { message: 'The run failed.' };
        view.finishedAt = event.ts;
        view.streaming = null;
        break;
      case 'run.cancelled':
        view.status = runStatusOf(event, 'cancelled');
        view.finishedAt = event.ts;
        view.streaming = null;
        break;
      case 'run.waiting':
        view.status = runStatusOf(event, 'waiting');
        break;
      default:
        break;
    }
    this.totalsBefore = view.totals;
    if (view.status !== before) view.nodes = deriveNodes(view);
  }

  /** Derive what the steps changed: the nodes, and the totals while the run is under way. */
  private flush(): void {
    const view = this.view;
    if (this.derive) view.nodes = deriveNodes(view);
    if (this.totals) view.totals = liveTotals(view.steps, this.totalsBefore, this.saved);
    this.derive = false;
    this.totals = false;
    this.saved = 0;
    this.totalsBefore = view.totals;
  }

  private setSeq(event: RunEvent): void {
    if (event.seq !== null && event.seq !== this.view.lastSeq) {
      this.view.lastSeq = event.seq;
      this.changed = true;
    }
  }

  /** The step to change: this batch's own copy of it. */
  private own(step: StepView): StepView {
    if (this.owned.has(step)) return step;
    const copy = { ...step };
    this.owned.add(copy);
    this.view.steps[copy.id] = copy;
    return copy;
  }

  private ownChildren(step: StepView): string[] {
    if (!this.owned.has(step.children)) {
      step.children = [...step.children];
      this.owned.add(step.children);
    }
    return step.children;
  }

  private appendToTimeline(id: string): void {
    if (!this.owned.has(this.view.order)) {
      this.view.order = [...this.view.order];
      this.owned.add(this.view.order);
    }
    this.view.order.push(id);
  }

  /** A step the view did not know yet, added to the steps and the timeline. */
  private add(step: StepView): StepView {
    this.owned.add(step);
    this.owned.add(step.children);
    this.view.steps[step.id] = step;
    this.appendToTimeline(step.id);
    return step;
  }

  private applyStep(event: RunEvent): void {
    const view = this.view;
    const id = event.step!;
    const known = view.steps[id];
    if (event.type === 'step.tool_call') {
      const base = known ?? newStep(id, event.node ?? id);
      const next = withToolCall(base, (event as EventOf<'step.tool_call'>).data);
      if (known) view.steps[id] = next;
      else this.add(next);
      this.setSeq(event);
      this.changed = true;
      this.derive = true; // the card's badge counts them
      return;
    }
    if (event.type === 'step.chunk') {
      const base = known ?? newStep(id, event.node ?? id);
      const next = withChunk(base, (event as EventOf<'step.chunk'>).data);
      if (known && next === known) return; // nothing new (a repeat, or stale)
      if (known) view.steps[id] = next;
      else this.add(next);
      // chunks change no figures: the derived nodes stay as they are
      view.streaming = id;
      this.setSeq(event);
      this.changed = true;
      return;
    }
    this.changed = true;
    this.derive = true;
    if (!FINISHED_RUN_STATUSES.has(view.status)) this.totals = true;
    const parentHint = event.type === 'step.started' ? (event.data.parent ?? null) : parentByKey(view.steps, id, event.node);
    const step = known ? this.own(known) : this.add(newStep(id, event.node ?? id, parentHint));
    if (!step.node && event.node) step.node = event.node;
    const parentBefore = known ? known.parent : null;

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
        this.saved += data.saved_cost ?? 0;
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
        view.streaming = id;
        break;
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
        // only an approval gate asks for an approval: its type is known from here on, so a
        // rejection (its "rejected" branch) can be told apart once the request is cleared
        if (step.type === null && approvalRequestOf(step.request)) step.type = 'approval';
        break;
      case 'step.resumed':
        step.status = stepStatusOf(event, 'running');
        step.round = (event as EventOf<'step.resumed'>).data.round ?? step.round + 1;
        step.request = null;
        break;
      case 'step.delegated':
        this.delegated(step, event as EventOf<'step.delegated'>);
        break;
      default:
        break;
    }
    if (step.parent && (!known || step.parent !== parentBefore)) {
      const parent = view.steps[step.parent];
      if (parent && !parent.children.includes(id)) this.ownChildren(this.own(parent)).push(id);
    }
    this.setSeq(event);
  }

  /**
   * A step handed out tasks. The server lists at most the first 1,000 and counts all of them
   * (`count`); it starts as many as may run at once with a step.queued each (before this event)
   * and leaves the rest pending, with no event until their turn comes.
   */
  private delegated(step: StepView, event: EventOf<'step.delegated'>): void {
    const data = event.data;
    const tasks = data.tasks ?? [];
    // a subflow step handing its flow to the run: its steps come as its children, one by one
    if (data.flow) step.flow = data.flow;
    step.status = stepStatusOf(event, step.status === 'pending' ? 'running' : step.status);
    const children = this.ownChildren(step);
    const listed = new Set(children);
    for (const task of tasks) {
      if (!listed.has(task.step)) {
        children.push(task.step);
        listed.add(task.step);
      }
      const child = this.view.steps[task.step];
      if (!child) {
        const made = newStep(task.step, task.node, step.id);
        // the in-process engine starts tasks as it lists them; the server says which it queued
        made.status = typeof data.count === 'number' ? 'pending' : 'queued';
        this.add(made);
      } else if (child.parent === null) {
        this.own(child).parent = step.id;
      }
    }
    // tasks beyond the listed ones are not known yet: they are counted, not listed
    const count = typeof data.count === 'number' ? data.count : tasks.length;
    step.expected = Math.max(step.expected, children.length) + Math.max(0, count - tasks.length);
  }
}

/**
 * The parent of a step the view hears of first by an event that names no parent: a delegated
 * task (a map's item past the 1,000 its delegation listed, cancelled before its turn), whose key
 * is `<parent>.<node>.<n>`; or a step of a sub-flow (reused in a re-run), `<subflow step>/<node>`.
 */
function parentByKey(steps: Readonly<Record<string, StepView>>, id: string, node: string | null): string | null {
  if (node) {
    const tail = `.${node}.`;
    const at = id.lastIndexOf(tail);
    if (at > 0 && /^\d+$/.test(id.slice(at + tail.length))) {
      const parent = id.slice(0, at);
      if (steps[parent]) return parent;
    }
  }
  const flow = flowOfKey(id);
  return flow && steps[flow] ? flow : null;
}

/** Apply one event. Events at or below `lastSeq`, or for another run, leave the state as it is
 * (streamed chunks have no seq: their index within the attempt places them). */
export function applyEvent(state: RunView, event: RunEvent): RunView {
  return applyEvents(state, [event]);
}

/** Apply events in order, as one batch: the result is the same as applying them one by one. */
export function applyEvents(state: RunView, events: Iterable<RunEvent>): RunView {
  let batch: Batch | null = null;
  for (const event of events) {
    batch ??= new Batch(state);
    batch.apply(event);
  }
  return batch ? batch.finish() : state;
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
    inFlow: record.in_flow !== undefined ? record.in_flow : flowOfKey(record.id),
    flow: record.flow ?? null,
    toolCalls: record.tool_calls ?? [],
    retries: record.retries ?? [],
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
  // the step the live stream would show: the last one started and not yet done. A gate that
  // already waits counts too, or a page opened after it stopped shows no "waiting for a person".
  const open = indexed.map(({ record }) => record).filter((r) => r.status === 'running' || r.status === 'waiting');
  view.streaming = open.length ? open[open.length - 1].id : null;
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

/**
 * How deep a step is for a re-run from it: 0 for a step its flow started (the run's own flow or
 * the sub-flow of one of its top-level steps), 1 for a task such a step delegated. The server
 * refuses a task delegated inside a sub-flow, and a step of a sub-flow nested in another or run
 * by a map's item (re-run from the top-level step instead): they count as deeper than any limit.
 */
export function rerunDepthOf(view: RunView, id: string): number {
  const step = view.steps[id];
  if (!step?.inFlow) return depthOf(view, id);
  const flowStep = view.steps[step.inFlow];
  // a workflow tool call (its "flow step" is the worker that called it, which runs no flow) runs
  // inside its caller's step: a re-run starts from the caller, not from the call
  const topLevelFlow = !!flowStep?.flow && flowStep.parent === null && flowStep.inFlow === null;
  return topLevelFlow && (step.parent === step.inFlow || step.parent === null) ? 0 : Number.POSITIVE_INFINITY;
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
