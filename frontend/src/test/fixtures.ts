// Test fixtures: the real node-type catalogue (saved from `python -m runtime node-types --json`),
// plus the manager and approval types the architecture describes and the engine has not
// registered yet; a real event log of examples/research.json run by the engine's CLI.

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
