// What node and edge components need besides their own data: the catalogue, validation issues,
// and in the run view the run's state. Kept out of node data so run status never leaks into
// the saved graph or the undo history.
//
// Every card reads this context, so a new value re-renders every card: it must only change when
// something all cards show changes (the catalogue, the issues, the mode). The run's state is
// not in it but behind `run`, a store that stays the same object for the whole run and that each
// card and edge subscribes to for its own entry only.

import type { ReactFlowState } from '@xyflow/react';
import { createContext, useContext } from 'react';
import type { Issue, NodeTypeSpec } from '../api/graph';
import type { Verdict } from '../api/timeTravel';
import type { RunStore } from '../run/liveStore';
import type { FlowGraphOf } from '../run/subflows';

/** Below this zoom cards draw their title and status only, and edges no arrowheads or labels:
 * at 1,000 nodes painting every card's full detail (glyph, type, summary, branch labels) kept
 * panning under 30 fps, and at that size the detail cannot be read anyway. */
export const LOW_DETAIL_ZOOM = 0.5;
/** A boolean: a subscriber re-renders when the zoom crosses the threshold, not on every step. */
export const lowDetailSelector = (state: ReactFlowState): boolean => state.transform[2] < LOW_DETAIL_ZOOM;

export interface CanvasInfo {
  catalogue: ReadonlyMap<string, NodeTypeSpec>;
  nodeIssues: ReadonlyMap<string, Issue[]>;
  edgeIssues: ReadonlyMap<string, Issue[]>;
  /** the run drawn on the canvas (the run view), else null */
  run: RunStore | null;
  readOnly: boolean;
  onSelectStep?: (stepId: string) => void;
  /** the run view's Decide button on a waiting approval gate */
  onDecide?: (nodeId: string, stepId: string) => void;
  /** time travel in the run view: a finished step's Re-run from here / Edit output (undefined:
   * the user may not start runs) */
  onRerun?: (mode: 'from' | 'edit', stepId: string) => void;
  /** while a re-run's preview is open: what it would do with each node */
  plan?: ReadonlyMap<string, Verdict> | null;
  /** a run of this workflow, a step of it opened (the link on a reused step) */
  runPath?: (runId: string, step?: string | null) => string;
  /** in the editor: the nodes whose output is pinned (test runs give it instead of running them) */
  pinned?: ReadonlySet<string>;
  /** in the run view: the graph of a sub-flow the run runs, once fetched (its steps' labels) */
  flowGraph?: FlowGraphOf;
}

export const CanvasContext = createContext<CanvasInfo>({
  catalogue: new Map(),
  nodeIssues: new Map(),
  edgeIssues: new Map(),
  run: null,
  readOnly: false,
});

export function useCanvasInfo(): CanvasInfo {
  return useContext(CanvasContext);
}

export function groupIssues(issues: Issue[]): { nodes: Map<string, Issue[]>; edges: Map<string, Issue[]>; graph: Issue[] } {
  const nodes = new Map<string, Issue[]>();
  const edges = new Map<string, Issue[]>();
  const graph: Issue[] = [];
  for (const issue of issues) {
    if (issue.node_id) nodes.set(issue.node_id, [...(nodes.get(issue.node_id) ?? []), issue]);
    else if (issue.edge_id) edges.set(issue.edge_id, [...(edges.get(issue.edge_id) ?? []), issue]);
    else graph.push(issue);
  }
  return { nodes, edges, graph };
}
