// Two versions on one canvas: the graph compared to (usually the newer version) with its nodes
// marked added (green), changed (amber) or only moved/renamed (a quiet outline), and the nodes and
// edges that are no longer there drawn ghosted (red, dashed) where they were. The marks are CSS
// classes on React Flow's node and edge wrappers (`diff-added`, …; see versionCompare.css), so
// the cards themselves and the saved graph know nothing of them.

import type { Graph } from '../api/graph';
import type { DiffEdge, VersionComparison } from '../api/versionCompare';
import { toFlowEdge, toFlowNode, type LinkEdge, type StepNode } from '../graph/convert';

export type DiffMark = 'added' | 'changed' | 'removed' | 'moved';

export interface ComparisonView {
  /** the version compared from: its removed nodes are ghosted */
  from: number;
  /** the version compared to: the canvas shows this one */
  to: number;
  diff: VersionComparison;
  before: Graph;
  after: Graph;
}

/** Each node's mark by id; unchanged nodes have none. */
export function diffMarks(diff: VersionComparison): Map<string, DiffMark> {
  const marks = new Map<string, DiffMark>();
  for (const node of diff.nodes.moved_or_renamed) marks.set(node.id, 'moved');
  for (const node of diff.nodes.changed) marks.set(node.id, 'changed');
  for (const node of diff.nodes.added) marks.set(node.id, 'added');
  for (const node of diff.nodes.removed) marks.set(node.id, 'removed');
  return marks;
}

/** The id a removed edge is drawn under: never one of the newer version's edge ids. */
export function removedEdgeId(edge: DiffEdge, index: number): string {
  return `was:${edge.id || index}`;
}

function withClass<T extends { className?: string }>(item: T, mark: DiffMark | undefined, focus: boolean): T {
  const classes = [mark ? `diff-${mark}` : '', focus ? 'diff-focus' : ''].filter(Boolean).join(' ');
  return classes ? { ...item, className: classes } : item;
}

/** React Flow's nodes and edges for a comparison; `focus` (a node id) is drawn selected. */
export function comparisonFlow(view: ComparisonView, focus: string | null = null): { nodes: StepNode[]; edges: LinkEdge[] } {
  const marks = diffMarks(view.diff);
  const removed = new Set(view.diff.nodes.removed.map((node) => node.id));
  const ghosts = view.before.nodes.filter((node) => removed.has(node.id));
  const nodes = [...view.after.nodes, ...ghosts].map((node) => {
    const flowNode = withClass(toFlowNode(node), marks.get(node.id), node.id === focus);
    return node.id === focus ? { ...flowNode, selected: true } : flowNode;
  });
  const added = new Set(view.diff.edges.added.map((edge) => edge.id));
  const present = new Set(nodes.map((node) => node.id));
  const edges = [
    ...view.after.edges.map((edge) => withClass(toFlowEdge(edge), added.has(edge.id) ? 'added' : undefined, false)),
    ...view.diff.edges.removed
      .filter((edge) => present.has(edge.source) && present.has(edge.target))
      .map((edge, index) =>
        withClass(
          toFlowEdge({
            id: removedEdgeId(edge, index),
            source: edge.source,
            target: edge.target,
            kind: edge.kind === 'delegate' ? 'delegate' : 'flow',
            source_handle: edge.source_handle,
            target_handle: edge.target_handle,
          }),
          'removed',
          false,
        ),
      ),
  ];
  return { nodes, edges };
}

/** A setting's value as the comparison lists it: JSON, shortened; absent for a key not there. */
export function formatSetting(value: unknown, absent: boolean, limit = 160): string {
  if (absent) return '(not set)';
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}
