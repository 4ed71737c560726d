// Test fixtures: the real node-type catalogue (saved from `python -m runtime node-types --json`),
// plus the types registered since (approval, then map and loop: node-types.planned.json,
// newer than node-types.json); a real event log of examples/research.json run
// by the engine's CLI; an Approval in the API's shape.

import type { Approval } from '../api/approvals';
import type { RunEvent } from '../api/events';
import type { Graph, NodeTypeSpec } from '../api/graph';
import { catalogueMap } from '../api/catalogue';
import realTypes from './fixtures/node-types.json';
import plannedTypes from './fixtures/node-types.planned.json';
import researchGraph from './fixtures/research.graph.json';
import researchEvents from './fixtures/research-run.events.json';

export const realCatalogue: NodeTypeSpec[] = realTypes as unknown as NodeTypeSpec[];
export const allTypes: NodeTypeSpec[] = [...realCatalogue, ...(plannedTypes as unknown as NodeTypeSpec[])];
export const catalogue = catalogueMap(allTypes);

export function spec(type: string): NodeTypeSpec {
  const found = catalogue.get(type);
  if (!found) throw new Error(`no fixture for node type ${type}`);
  return found;
}

export const research: Graph = researchGraph as unknown as Graph;
export const researchRun: RunEvent[] = researchEvents as unknown as RunEvent[];

/** A manager delegating to two workers, then an approval gate and outputs. */
export const team: Graph = {
  nodes: [
    { id: 'brief', type: 'input', label: 'Brief', position: { x: 0, y: 0 }, config: {} },
    { id: 'lead', type: 'manager', label: 'Editor', position: { x: 250, y: 0 }, config: { model: 'local/echo', max_rounds: 3 } },
    { id: 'res', type: 'worker', label: 'Researcher', position: { x: 500, y: -80 }, config: { model: 'local/echo', role: 'Researcher' } },
    { id: 'writer', type: 'worker', label: 'Writer', position: { x: 500, y: 80 }, config: { model: 'openai/gpt-4o-mini' } },
    { id: 'gate', type: 'approval', label: 'Sign-off', position: { x: 750, y: 0 }, config: { prompt: 'Publish?' } },
    { id: 'out', type: 'output', label: 'Result', position: { x: 1000, y: 0 }, config: {} },
  ],
  edges: [
    { id: 'e1', source: 'brief', target: 'lead' },
    { id: 'e2', source: 'lead', target: 'res', kind: 'delegate' },
    { id: 'e3', source: 'lead', target: 'writer', kind: 'delegate' },
    { id: 'e4', source: 'lead', target: 'gate' },
    { id: 'e5', source: 'gate', target: 'out', source_handle: 'approved' },
  ],
};

/** An Approval as GET /api/approvals/<id>/ returns it (the contract's shape). */
export function approvalFixture(overrides: Partial<Approval> = {}): Approval {
  return {
    id: 'ap-1',
    run: 'run-1',
    workflow: { id: 'wf-1', name: 'Newsletter' },
    step: 'gate',
    node: 'gate',
    status: 'pending',
    prompt: 'Publish this draft?',
    data: { title: 'Bees', body: 'Bees dance.' },
    editable: true,
    approvers: ['alice', 'bob'],
    role: null,
    quorum: 2,
    approvals: 1,
    deadline: null,
    can_decide: true,
    decisions: [{ user: 'alice', decision: 'approve', comment: 'fine by me', created_at: '2026-11-24T10:00:00Z' }],
    created_at: '2026-11-24T09:58:00Z',
    decided_at: null,
    ...overrides,
  };
}
