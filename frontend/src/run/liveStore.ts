// The run's state per node and per edge, for the canvas, as a small external store.
//
// The run view (reducer.ts) is one immutable object that changes on every event. Handing it to
// every node card made each event re-render all of them: at 1,000 nodes and 50 events a second
// the canvas fell to 3 fps. Here each card and edge subscribes to its own entry only
// (useSyncExternalStore keyed by id); `update` diffs the new view against what it holds and
// wakes only the subscribers whose entry changed, keeping the old object for the others so
// React sees no change.

import { useCallback, useLayoutEffect, useMemo, useSyncExternalStore } from 'react';
import { approvalRequestOf } from '../api/approvals';
import type { Graph } from '../api/graph';
import { edgeRunStates, type EdgeRunState } from './edges';
import { sameProgress } from './iteration';
import { nodeStatus, type ChildBadge, type Figures, type FlowView, type NodeStatus, type NodeView, type RunView } from './reducer';

/** A step of the node that waits, and whether it asks a person for an approval. */
export interface WaitingStep {
  id: string;
  approval: boolean;
}

/** What a node card shows of the run. */
export interface NodeRun {
  status: NodeStatus;
  /** the node's steps taken together; undefined before any step of it exists */
  view: NodeView | undefined;
  /** the failure shown on a failed node */
  error: string | null;
  /** its steps that wait, in timeline order */
  waiting: WaitingStep[];
}

const NO_WAITING: WaitingStep[] = [];
const IDLE: NodeRun = { status: 'idle', view: undefined, error: null, waiting: NO_WAITING };

function nodeRunOf(view: RunView, id: string): NodeRun {
  const node = view.nodes[id];
  const status = nodeStatus(view, id);
  if (!node) return status === 'idle' ? IDLE : { status, view: undefined, error: null, waiting: NO_WAITING };
  const step = node.step ? view.steps[node.step] : undefined;
  const error = status === 'failed' ? (node.error?.message ?? step?.error?.message ?? null) : null;
  let waiting = NO_WAITING;
  if (status === 'waiting') {
    waiting = [];
    for (const stepId of node.steps) {
      const s = view.steps[stepId];
      if (s?.status === 'waiting') waiting.push({ id: s.id, approval: approvalRequestOf(s.request) !== null });
    }
    // a sub-flow's card: the approval gates waiting inside its flow, decided from the card
    for (const stepId of node.flow?.progress.asking ?? []) waiting.push({ id: stepId, approval: true });
  }
  return { status, view: node, error, waiting };
}

function sameFigures(a: Figures, b: Figures): boolean {
  return a.tokens_in === b.tokens_in && a.tokens_out === b.tokens_out && a.cost === b.cost;
}

function sameChildren(a: ChildBadge[], b: ChildBadge[]): boolean {
  return a.length === b.length && a.every((c, i) => c.step === b[i].step && c.node === b[i].node && c.status === b[i].status);
}

function sameFlow(a: FlowView | null, b: FlowView | null): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  const p = a.progress;
  const q = b.progress;
  return (
    a.ref.workflow === b.ref.workflow &&
    a.ref.name === b.ref.name &&
    a.ref.number === b.ref.number &&
    p.known === q.known &&
    p.finished === q.finished &&
    p.failed === q.failed &&
    p.running === q.running &&
    p.asking.length === q.asking.length &&
    p.asking.every((id, i) => id === q.asking[i])
  );
}

function sameToolCalls(a: NodeView['toolCalls'] | undefined, b: NodeView['toolCalls'] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((call, i) => call.status === y[i].status && call.id === y[i].id);
}

/** Equal in everything a card draws (deriveNodes makes new objects for every node on each event). */
function sameNodeView(a: NodeView | undefined, b: NodeView | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (
    a.status === b.status &&
    a.step === b.step &&
    a.steps.length === b.steps.length &&
    a.steps.every((s, i) => s === b.steps[i]) &&
    a.attempt === b.attempt &&
    a.duration_ms === b.duration_ms &&
    a.startedAt === b.startedAt &&
    sameFigures(a.own, b.own) &&
    sameFigures(a.subtree, b.subtree) &&
    sameChildren(a.children, b.children) &&
    sameProgress(a.progress, b.progress) &&
    (a.error?.message ?? null) === (b.error?.message ?? null) &&
    a.topLevel === b.topLevel &&
    a.rejected === b.rejected &&
    sameFlow(a.flow, b.flow) &&
    sameToolCalls(a.toolCalls, b.toolCalls) &&
    (a.reusedFrom?.kind ?? null) === (b.reusedFrom?.kind ?? null) &&
    (a.reusedFrom?.run ?? null) === (b.reusedFrom?.run ?? null) &&
    (a.reusedFrom?.step ?? null) === (b.reusedFrom?.step ?? null)
  );
}

export function sameNodeRun(a: NodeRun, b: NodeRun): boolean {
  return (
    a.status === b.status &&
    a.error === b.error &&
    a.waiting.length === b.waiting.length &&
    a.waiting.every((w, i) => w.id === b.waiting[i].id && w.approval === b.waiting[i].approval) &&
    sameNodeView(a.view, b.view)
  );
}

type Listener = () => void;

export class RunStore {
  private view: RunView | null = null;
  private graph: Graph | null = null;
  private nodes = new Map<string, NodeRun>();
  private edges = new Map<string, EdgeRunState>();
  private nodeListeners = new Map<string, Set<Listener>>();
  private edgeListeners = new Map<string, Set<Listener>>();
  private anyListeners = new Set<Listener>();
  /** bumped on every change of any node's status: the mini map colours by it */
  private statusVersion = 0;

  /** Take a new run view and/or graph; wake the subscribers of the entries that changed. */
  update(view: RunView, graph: Graph): void {
    if (view === this.view && graph === this.graph) return;
    const woken: Listener[] = [];
    let statusChanged = false;
    // Nodes the view knows and the graph's: a node of the graph without steps still changes
    // (idle → pending) when the run starts.
    const ids = new Set<string>(Object.keys(view.nodes));
    for (const node of graph.nodes) ids.add(node.id);
    for (const id of this.nodes.keys()) ids.add(id);
    for (const id of ids) {
      const before = this.nodes.get(id) ?? IDLE;
      const next = nodeRunOf(view, id);
      if (sameNodeRun(before, next)) continue;
      if (before.status !== next.status) statusChanged = true;
      this.nodes.set(id, next);
      for (const listener of this.nodeListeners.get(id) ?? []) woken.push(listener);
    }
    const states = edgeRunStates(graph, view);
    const edgeIds = new Set<string>([...Object.keys(states), ...this.edges.keys()]);
    for (const id of edgeIds) {
      const next = states[id] ?? 'idle';
      if ((this.edges.get(id) ?? 'idle') === next) continue;
      this.edges.set(id, next);
      for (const listener of this.edgeListeners.get(id) ?? []) woken.push(listener);
    }
    this.view = view;
    this.graph = graph;
    if (statusChanged) {
      this.statusVersion += 1;
      for (const listener of this.anyListeners) woken.push(listener);
    }
    for (const listener of woken) listener();
  }

  node(id: string): NodeRun {
    return this.nodes.get(id) ?? IDLE;
  }

  edge(id: string): EdgeRunState {
    return this.edges.get(id) ?? 'idle';
  }

  version(): number {
    return this.statusVersion;
  }

  /** Whether any card, edge or mini map listens: until then an update wakes nobody. */
  watched(): boolean {
    return this.nodeListeners.size > 0 || this.edgeListeners.size > 0 || this.anyListeners.size > 0;
  }

  subscribeNode(id: string, listener: Listener): () => void {
    return subscribe(this.nodeListeners, id, listener);
  }

  subscribeEdge(id: string, listener: Listener): () => void {
    return subscribe(this.edgeListeners, id, listener);
  }

  /** Called once per update in which any node's status changed. */
  subscribeStatuses(listener: Listener): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }
}

function subscribe(map: Map<string, Set<Listener>>, id: string, listener: Listener): () => void {
  let set = map.get(id);
  if (!set) map.set(id, (set = new Set()));
  set.add(listener);
  return () => {
    set.delete(listener);
    if (!set.size) map.delete(id);
  };
}

/** A store holding one view of a run on `graph` (tests and one-off drawings). */
export function runStoreOf(view: RunView, graph: Graph): RunStore {
  const store = new RunStore();
  store.update(view, graph);
  return store;
}

const noop = () => () => undefined;
const idle = () => IDLE;
const idleEdge = (): EdgeRunState => 'idle';
const zero = () => 0;

/** One node's run state; `null` outside a run. Re-renders only when that node's entry changes. */
export function useNodeRun(store: RunStore | null, id: string): NodeRun | null {
  const subscribe = useCallback((listener: Listener) => (store ? store.subscribeNode(id, listener) : noop()), [store, id]);
  const snapshot = useCallback(() => (store ? store.node(id) : IDLE), [store, id]);
  const value = useSyncExternalStore(subscribe, snapshot, idle);
  return store ? value : null;
}

/** One edge's run state; `null` outside a run. */
export function useEdgeRun(store: RunStore | null, id: string): EdgeRunState | null {
  const subscribe = useCallback((listener: Listener) => (store ? store.subscribeEdge(id, listener) : noop()), [store, id]);
  const snapshot = useCallback(() => (store ? store.edge(id) : 'idle'), [store, id]);
  const value = useSyncExternalStore(subscribe, snapshot, idleEdge);
  return store ? value : null;
}

/** A number that changes whenever any node's status changes (0 outside a run). */
export function useStatusVersion(store: RunStore | null): number {
  const subscribe = useCallback((listener: Listener) => (store ? store.subscribeStatuses(listener) : noop()), [store]);
  const snapshot = useCallback(() => (store ? store.version() : 0), [store]);
  return useSyncExternalStore(subscribe, snapshot, zero);
}

/**
 * The store of one run, fed with each new run view and graph before the browser paints, so the
 * cards whose entries changed re-render in the same frame as the events. `null` when `active` is
 * false (the editor and version previews draw no run).
 */
export function useRunStore(runId: string | null, view: RunView, graph: Graph, active: boolean): RunStore | null {
  // a new store per run: nothing of the last run's states may show on the next one
  const store = useMemo(() => new RunStore(), [runId]);
  // Before the canvas has mounted nobody listens, and filling the store right here (it wakes
  // no one) lets the cards draw the run's state in their first render; waiting for the layout
  // effect drew all of them as not run first, then each again.
  if (active && !store.watched()) store.update(view, graph);
  useLayoutEffect(() => {
    if (active) store.update(view, graph);
  }, [store, view, graph, active]);
  return active ? store : null;
}
