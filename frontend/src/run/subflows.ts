// Sub-flows in the run view. A subflow step hands its flow to the run: the flow's steps are its
// children, keyed `<subflow step>/<node>`, and their node ids are the sub-flow's graph's, not the
// canvas's. So their labels and types come from that graph (the version the run pinned, fetched
// once per workflow and version), and the subflow step's card and panel sum them up:
// "runs Fact check v3", "3 / 5 steps · waiting for approval".

import { useEffect, useMemo, useState } from 'react';
import type { FlowRef } from '../api/events';
import type { Graph, GraphNode } from '../api/graph';
import { api } from '../api/resources';
import type { FlowProgress, RunView, StepView } from './reducer';

/** A node of a graph that ran: its type and settings (and label, where there is one). */
export interface FlowNode {
  type: string;
  config: Record<string, unknown>;
  label?: string;
}

/** The graph of a sub-flow at the version a run pinned; undefined until fetched (or if it failed). */
export type FlowGraphOf = (ref: FlowRef) => Graph | undefined;

export function flowKey(ref: FlowRef): string {
  return `${ref.workflow}@${ref.number}`;
}

/** "Fact check v3". */
export function flowTitle(ref: FlowRef): string {
  return `${ref.name || 'Workflow'} v${ref.number}`;
}

/** A sub-flow's progress as its card says it: "3 / 5 steps · 1 failed · waiting for approval".
 * `size` is the number of nodes of its graph, when known (steps not reached yet count too). */
export function flowProgressText(p: FlowProgress, size?: number | null): string {
  const total = Math.max(size ?? 0, p.known);
  const parts = [`${p.finished.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} step${total === 1 ? '' : 's'}`];
  if (p.failed) parts.push(`${p.failed.toLocaleString('en-US')} failed`);
  if (p.asking.length === 1) parts.push('waiting for approval');
  else if (p.asking.length > 1) parts.push(`${p.asking.length.toLocaleString('en-US')} waiting for approval`);
  return parts.join(' · ');
}

function graphNode(graph: Graph | undefined, nodeId: string): GraphNode | undefined {
  return graph?.nodes.find((n) => n.id === nodeId);
}

/**
 * Names and types of a run's steps wherever they ran: a step of the run's own flow by the canvas's
 * node, a step of a sub-flow by that sub-flow's node (never by a canvas node that shares its id).
 */
export interface StepNames {
  /** the label of a step's node in the flow it belongs to */
  label: (step: StepView) => string;
  /** the type and settings of a step's node in the flow it belongs to */
  node: (step: StepView) => FlowNode | undefined;
  /** labels of the nodes of one flow: the run's own (null) or a subflow step's */
  labelIn: (flowStep: string | null) => (nodeId: string) => string;
  /** the flow a subflow step runs, and its graph when fetched */
  flowOf: (flowStep: string | null) => { ref: FlowRef; graph: Graph | undefined } | null;
}

export function stepNames(
  view: Pick<RunView, 'steps'>,
  labelOf: (nodeId: string) => string,
  nodeOf: (nodeId: string) => FlowNode | undefined,
  flowGraph?: FlowGraphOf,
): StepNames {
  const flowOf = (flowStep: string | null) => {
    const ref = flowStep ? view.steps[flowStep]?.flow : null;
    return ref ? { ref, graph: flowGraph?.(ref) } : null;
  };
  const labelIn = (flowStep: string | null) => {
    if (flowStep === null) return labelOf;
    const graph = flowOf(flowStep)?.graph;
    return (nodeId: string) => graphNode(graph, nodeId)?.label || nodeId;
  };
  return {
    label: (step) => labelIn(step.inFlow)(step.node),
    node: (step) => {
      if (step.inFlow === null) return nodeOf(step.node) ?? (step.type ? { type: step.type, config: {} } : undefined);
      const found = graphNode(flowOf(step.inFlow)?.graph, step.node);
      if (found) return { type: found.type, config: found.config ?? {}, label: found.label };
      return step.type ? { type: step.type, config: {} } : undefined;
    },
    labelIn,
    flowOf,
  };
}

/**
 * The step that called `step` as a workflow tool, or null. A workflow called as a tool runs
 * inside its calling step; the call is a child of that step keyed `<caller>/<tool>.<n>` and runs
 * its workflow's steps as its own children, like a subflow step — but its caller runs no flow.
 */
export function toolCallerOf(view: Pick<RunView, 'steps'>, step: StepView): StepView | null {
  if (!step.flow || step.inFlow === null) return null;
  const caller = view.steps[step.inFlow];
  return caller && !caller.flow ? caller : null;
}

/** The flows a run's subflow steps run (each workflow and version once), in the order first met. */
export function flowRefsOf(steps: Readonly<Record<string, StepView>>): FlowRef[] {
  const found = new Map<string, FlowRef>();
  for (const id in steps) {
    const ref = steps[id].flow;
    if (ref && !found.has(flowKey(ref))) found.set(flowKey(ref), ref);
  }
  return [...found.values()];
}

/**
 * The graphs of the sub-flows a run reaches, at the versions it runs them: fetched once each as
 * their subflow steps appear (GET /api/workflows/<id>/versions/<n>/). Until one arrives (or if it
 * cannot be read) its steps are named by their node ids.
 */
export function useFlowGraphs(view: Pick<RunView, 'steps'>): FlowGraphOf {
  const [graphs, setGraphs] = useState<ReadonlyMap<string, Graph | null>>(() => new Map());
  const refs = flowRefsOf(view.steps);
  const wanted = refs.map(flowKey).join('|');
  useEffect(() => {
    const missing = refs.filter((ref) => !graphs.has(flowKey(ref)));
    if (!missing.length) return;
    // marked as asked for at once: each is fetched once, however many events come meanwhile
    setGraphs((held) => new Map([...held, ...missing.map((ref) => [flowKey(ref), null] as const)]));
    for (const ref of missing) {
      api.getVersion(ref.workflow, ref.number).then(
        (version) => setGraphs((held) => new Map(held).set(flowKey(ref), version.graph)),
        () => undefined, // named by node ids
      );
    }
    // `wanted` stands for refs: the same flows in a new view ask for nothing
  }, [wanted]);
  return useMemo(() => (ref: FlowRef) => graphs.get(flowKey(ref)) ?? undefined, [graphs]);
}
