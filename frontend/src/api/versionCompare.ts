// Two versions of a workflow side by side: GET /api/workflows/<id>/versions/compare/?from=N&to=M
// (the engine's runtime/graph_diff.py decides what changed).

import { request } from './client';

export interface DiffNode {
  id: string;
  type: string;
  label: string;
}

export interface SettingChange {
  /** from the node: "type", "config.prompt", "config.routes[0].when" */
  path: string;
  /** added or removed: the key is in one version only (the other side is null) */
  change: 'added' | 'removed' | 'changed';
  before: unknown;
  after: unknown;
}

export interface NodeChange extends DiffNode {
  label_before: string;
  renamed: boolean;
  moved: boolean;
  /** every differing leaf of type and config; empty when only moved or renamed */
  settings: SettingChange[];
}

export interface DiffEdge {
  /** the edge's id in its own version */
  id: string;
  source: string;
  target: string;
  kind: string;
  source_handle: string;
  target_handle: string;
}

export interface VersionComparison {
  from: number;
  to: number;
  nodes: {
    added: DiffNode[];
    removed: DiffNode[];
    changed: NodeChange[];
    moved_or_renamed: NodeChange[];
    unchanged: number;
  };
  edges: { added: DiffEdge[]; removed: DiffEdge[] };
}

export function compareVersions(workflowId: string, from: number, to: number): Promise<VersionComparison> {
  return request<VersionComparison>(`/api/workflows/${workflowId}/versions/compare/`, { query: { from, to } });
}
