// The canvas's connection rules give the verdicts the server's validation gives. The cases live in
// tests/fixtures/graph_rules_cases.json; tests/runtime/test_rules_parity.py runs the same cases
// through runtime/validation.py (and checks that the catalogue used here matches the server's).

import { describe, expect, it } from 'vitest';
import type { EdgeKind, Graph, GraphEdge } from '../api/graph';
import cases from '../../../tests/fixtures/graph_rules_cases.json';
import { catalogue } from '../test/fixtures';
import { DELEGATE_HANDLE } from './handles';
import { REFUSALS, checkConnection, checkReconnection, danglingEdges, edgeFromConnection, type Candidate } from './rules';

interface ParityCase {
  name: string;
  rule: string;
  verdict: 'allowed' | 'refused';
  graph: string;
  connect?: Candidate;
  replacing?: string;
  change?: { node: string; config: Record<string, unknown> };
  edge?: Partial<GraphEdge> & { id: string };
}

interface ParityCases {
  server_codes: Record<string, string>;
  graphs: Record<string, Graph>;
  cases: ParityCase[];
}

const parity = cases as unknown as ParityCases;
const GRAPH_RULE = 'dangling_branch';

function baseGraph(name: string): Graph {
  const graph = parity.graphs[name];
  if (!graph) throw new Error(`no graph named ${name} in the cases`);
  return structuredClone(graph);
}

/** The kind of edge a drag from this handle makes (what the canvas passes to edgeFromConnection). */
function kindOf(candidate: Candidate): EdgeKind {
  return candidate.sourceHandle === DELEGATE_HANDLE ? 'delegate' : 'flow';
}

describe('the cases file', () => {
  it('names a server issue code for every refusal, and for dangling branches', () => {
    expect(Object.keys(parity.server_codes).sort()).toEqual([...REFUSALS, GRAPH_RULE].sort());
  });

  it('has a refused and an allowed case for every rule', () => {
    const verdicts = new Map<string, Set<string>>();
    for (const c of parity.cases) {
      verdicts.set(c.rule, (verdicts.get(c.rule) ?? new Set()).add(c.verdict));
    }
    for (const rule of Object.keys(parity.server_codes)) {
      expect([rule, [...(verdicts.get(rule) ?? [])].sort()]).toEqual([rule, ['allowed', 'refused']]);
    }
  });

  it('has base graphs with no dangling branches', () => {
    for (const name of Object.keys(parity.graphs)) expect(danglingEdges(baseGraph(name), catalogue)).toEqual([]);
  });
});

describe('connections, as the server judges them', () => {
  const connections = parity.cases.filter((c) => c.connect);
  it.each(connections.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const candidate = c.connect!;
    const graph = baseGraph(c.graph);
    const verdict = c.replacing ? checkReconnection(c.replacing, candidate, graph, catalogue) : checkConnection(candidate, graph, catalogue);
    if (c.verdict === 'allowed') {
      expect(verdict).toEqual({ ok: true, kind: kindOf(candidate) });
    } else {
      expect(verdict).toMatchObject({ ok: false, reason: c.rule });
    }
    // the server is handed the edge the canvas saves for this connection
    expect(edgeFromConnection('new', candidate, kindOf(candidate))).toEqual(c.edge);
  });
});

describe('settings changed under existing edges', () => {
  const changes = parity.cases.filter((c) => c.change);
  it.each(changes.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(c.rule).toBe(GRAPH_RULE);
    const graph = baseGraph(c.graph);
    const node = graph.nodes.find((n) => n.id === c.change!.node);
    if (!node) throw new Error(`no node ${c.change!.node} in ${c.graph}`);
    node.config = c.change!.config;
    expect(danglingEdges(graph, catalogue)).toEqual(c.verdict === 'allowed' ? [] : [c.edge!.id]);
  });
});
