// What node and edge components need besides their own data: the catalogue, validation issues,
// and in the run view the run's state. Kept out of node data so run status never leaks into
// the saved graph or the undo history.

import { createContext, useContext } from 'react';
import type { Issue, NodeTypeSpec } from '../api/graph';
import type { EdgeRunState } from '../run/edges';
import type { RunView } from '../run/reducer';

export interface CanvasInfo {
  catalogue: ReadonlyMap<string, NodeTypeSpec>;
  nodeIssues: ReadonlyMap<string, Issue[]>;
  edgeIssues: ReadonlyMap<string, Issue[]>;
  run: RunView | null;
  edgeStates: Record<string, EdgeRunState>;
  readOnly: boolean;
  onSelectStep?: (stepId: string) => void;
  /** the run view's Decide button on a waiting approval gate */
  onDecide?: (nodeId: string, stepId: string) => void;
}

export const CanvasContext = createContext<CanvasInfo>({
  catalogue: new Map(),
  nodeIssues: new Map(),
  edgeIssues: new Map(),
  run: null,
  edgeStates: {},
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
