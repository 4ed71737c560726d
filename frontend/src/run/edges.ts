// How each edge looks during a run: data passing along it, passed, or a branch not taken.

import { SUCCEEDED_STEP_STATUSES } from '../api/events';
import { DEFAULT_SOURCE_HANDLE, ERROR_HANDLE, type Graph } from '../api/graph';
import { asksApproval, isActive, type RunView } from './reducer';

export type EdgeRunState = 'idle' | 'active' | 'done' | 'not-taken';

export function edgeRunStates(graph: Graph, view: RunView): Record<string, EdgeRunState> {
  const result: Record<string, EdgeRunState> = {};
  for (const edge of graph.edges) {
    const source = view.nodes[edge.source];
    const target = view.nodes[edge.target];
    if (edge.kind === 'delegate') {
      // pulses while any task the manager handed to this worker is under way
      const tasks = (source?.children ?? []).filter((c) => c.node === edge.target);
      if (tasks.some((t) => isActive(t.status) || t.status === 'pending')) result[edge.id] = 'active';
      else if (tasks.length) result[edge.id] = 'done';
      else result[edge.id] = 'idle';
      continue;
    }
    if (!source || !source.step) {
      result[edge.id] = 'idle';
      continue;
    }
    const step = view.steps[source.step];
    let taken: string | null = null;
    if (step && SUCCEEDED_STEP_STATUSES.has(step.status)) taken = step.branch || DEFAULT_SOURCE_HANDLE;
    else if (step?.status === 'failed') taken = ERROR_HANDLE;
    if (taken === null) {
      result[edge.id] = source.status === 'skipped' ? 'not-taken' : 'idle';
      continue;
    }
    if ((edge.source_handle || DEFAULT_SOURCE_HANDLE) !== taken) {
      result[edge.id] = 'not-taken';
    } else if (target && isActive(target.status) && !waitsForAPerson(view, target.step)) {
      result[edge.id] = 'active';
    } else {
      result[edge.id] = target?.status === 'skipped' ? 'not-taken' : 'done';
    }
  }
  return result;
}

/** A gate waiting for a decision has its input: a dot pulsing into it for as long as nobody
 * decides (hours, perhaps) read as something still arriving, a stray dot on the canvas. */
function waitsForAPerson(view: RunView, stepId: string | null | undefined): boolean {
  const step = stepId ? view.steps[stepId] : undefined;
  return !!step && asksApproval(step);
}
