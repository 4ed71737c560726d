import { describe, expect, it } from 'vitest';
import type { Graph } from '../api/graph';
import { catalogue, research, team } from '../test/fixtures';
import { DELEGATE_HANDLE, TASK_HANDLE, canBeBody, delegatesToAny } from './handles';
import { checkConnection, checkReconnection, danglingEdges, edgeFromConnection, reaches, upstreamOf } from './rules';

const c = (source: string, target: string, sourceHandle: string | null = 'out', targetHandle: string | null = 'in') => ({
  source,
  target,
  sourceHandle,
  targetHandle,
});

describe('connection rules while dragging', () => {
  it('accepts a plain flow connection and says it is a flow edge', () => {
    const verdict = checkConnection(c('brief', 'out'), team, catalogue);
    expect(verdict).toEqual({ ok: true, kind: 'flow' });
  });

  it('refuses a self-loop', () => {
    expect(checkConnection(c('plan', 'plan'), research, catalogue)).toMatchObject({ ok: false, reason: 'self_loop' });
  });

  it('refuses an edge into a node type with no inputs', () => {
    const verdict = checkConnection(c('plan', 'brief'), research, catalogue);
    expect(verdict).toMatchObject({ ok: false, reason: 'no_inputs' });
    expect(verdict.message).toContain('Input');
  });

  it('refuses a duplicate of an existing edge', () => {
    expect(checkConnection(c('brief', 'plan'), research, catalogue)).toMatchObject({ ok: false, reason: 'duplicate' });
    // the same two nodes over another branch is a different edge
    const g: Graph = structuredClone(research);
    expect(checkConnection(c('size', 'publish', 'short'), g, catalogue)).toMatchObject({ ok: true });
  });

  it('refuses a connection that closes a cycle among flow edges', () => {
    const verdict = checkConnection(c('merge', 'plan'), research, catalogue);
    expect(verdict).toMatchObject({ ok: false, reason: 'cycle' });
    expect(checkConnection(c('publish', 'brief'), research, catalogue).reason).toBe('no_inputs');
  });

  it('refuses a loop closed through a delegate edge too (the server orders both kinds)', () => {
    // lead delegates to res; res → lead would loop
    expect(checkConnection(c('res', 'lead'), team, catalogue)).toMatchObject({ ok: false, reason: 'cycle' });
  });

  it('refuses a source handle the node does not have', () => {
    expect(checkConnection(c('plan', 'publish', 'error'), research, catalogue)).toMatchObject({
      ok: false,
      reason: 'unknown_source_handle',
    });
    // a router has one handle per route plus its default
    expect(checkConnection(c('size', 'research', 'long'), { ...research, edges: [] }, catalogue).ok).toBe(true);
    expect(checkConnection(c('size', 'research', 'medium'), { ...research, edges: [] }, catalogue).reason).toBe('unknown_source_handle');
  });

  it('refuses a target handle the node does not have', () => {
    expect(checkConnection(c('plan', 'merge', 'out', 'other'), research, catalogue).reason).toBe('unknown_target_handle');
  });

  it('refuses unknown nodes and half-made connections', () => {
    expect(checkConnection(c('plan', 'ghost'), research, catalogue).reason).toBe('unknown_node');
    expect(checkConnection({ source: 'plan', target: null }, research, catalogue).reason).toBe('incomplete');
  });

  describe('delegation', () => {
    const withSecondManager: Graph = {
      nodes: [...team.nodes, { id: 'boss', type: 'manager', label: 'Boss', position: { x: 0, y: 300 }, config: {} }],
      edges: team.edges,
    };

    it('turns a drag from the delegate handle into a delegate edge to a worker', () => {
      const free: Graph = { ...team, edges: team.edges.filter((e) => e.id !== 'e3') };
      const verdict = checkConnection(c('lead', 'writer', DELEGATE_HANDLE, TASK_HANDLE), free, catalogue);
      expect(verdict).toEqual({ ok: true, kind: 'delegate' });
      expect(edgeFromConnection('e9', c('lead', 'writer', DELEGATE_HANDLE, TASK_HANDLE), 'delegate')).toEqual({
        id: 'e9',
        source: 'lead',
        target: 'writer',
        kind: 'delegate',
      });
    });

    it('refuses delegating to a type that cannot take tasks', () => {
      const verdict = checkConnection(c('lead', 'out', DELEGATE_HANDLE, 'in'), team, catalogue);
      expect(verdict).toMatchObject({ ok: false, reason: 'not_delegatable' });
      expect(checkConnection(c('boss', 'brief', DELEGATE_HANDLE, TASK_HANDLE), withSecondManager, catalogue).reason).toBe('not_delegatable');
      // a manager may hand work to another manager (the engine marks managers delegatable)
      expect(checkConnection(c('boss', 'lead', DELEGATE_HANDLE, TASK_HANDLE), withSecondManager, catalogue)).toEqual({ ok: true, kind: 'delegate' });
    });

    it('refuses delegation from a node that is not a manager', () => {
      expect(checkConnection(c('res', 'writer', DELEGATE_HANDLE, TASK_HANDLE), team, catalogue).reason).toBe('not_a_manager');
    });

    it('refuses a flow edge into the task handle, and a duplicate delegation', () => {
      expect(checkConnection(c('brief', 'res', 'out', TASK_HANDLE), team, catalogue).reason).toBe('task_handle_needs_delegate');
      expect(checkConnection(c('lead', 'res', DELEGATE_HANDLE, TASK_HANDLE), team, catalogue).reason).toBe('duplicate');
    });

    it('lets a manager both delegate to and flow into the same worker kind of node separately', () => {
      // lead → res as flow is a different edge from the delegation
      expect(checkConnection(c('lead', 'res'), team, catalogue)).toMatchObject({ ok: true, kind: 'flow' });
    });
  });
});

describe('graph helpers', () => {
  it('reaches follows edges of both kinds', () => {
    expect(reaches(team, 'brief', 'res')).toBe(true);
    expect(reaches(team, 'res', 'brief')).toBe(false);
  });

  it('lists flow ancestors, nearest first, for template suggestions', () => {
    expect(upstreamOf(research, 'merge')).toEqual(['research', 'critic', 'plan', 'brief']);
    expect(upstreamOf(team, 'res')).toEqual([]); // delegation is not a flow edge
  });

  it('finds edges whose branch no longer exists', () => {
    const g: Graph = structuredClone(research);
    const size = g.nodes.find((n) => n.id === 'size')!;
    size.config = { routes: [{ name: 'longer', when: 'true' }], default: 'short' };
    expect(danglingEdges(g, catalogue)).toEqual(['e7']);
  });
});

describe('moving an end of an existing edge', () => {
  // research: brief → plan → research/critic → merge → size ─long→ publish, ─short→ too_short
  it('allows dropping it back where it was, which a new connection would call a duplicate', () => {
    expect(checkConnection(c('brief', 'plan'), research, catalogue).reason).toBe('duplicate');
    expect(checkReconnection('e1', c('brief', 'plan'), research, catalogue)).toEqual({ ok: true, kind: 'flow' });
  });

  it('allows moving the target to another node that takes it', () => {
    // e4 research → merge, moved to research → size
    expect(checkReconnection('e4', c('research', 'size'), research, catalogue)).toEqual({ ok: true, kind: 'flow' });
  });

  it('refuses what a new connection is refused: a loop, a duplicate of another edge, an input node', () => {
    // e6 merge → size, its target moved back to plan: plan → … → merge → plan
    expect(checkReconnection('e6', c('merge', 'plan'), research, catalogue)).toMatchObject({ ok: false, reason: 'cycle' });
    // e5 critic → merge, its source moved to research: research → merge exists (e4)
    expect(checkReconnection('e5', c('research', 'merge'), research, catalogue)).toMatchObject({ ok: false, reason: 'duplicate' });
    expect(checkReconnection('e2', c('plan', 'brief'), research, catalogue)).toMatchObject({ ok: false, reason: 'no_inputs' });
  });

  it('keeps a delegate edge to the task handles of nodes that take tasks', () => {
    // team: e2 lead ─delegate→ res, e3 lead ─delegate→ writer
    expect(checkReconnection('e2', c('lead', 'writer', DELEGATE_HANDLE, TASK_HANDLE), team, catalogue)).toMatchObject({ ok: false, reason: 'duplicate' });
    const one: Graph = { ...team, edges: team.edges.filter((e) => e.id !== 'e3') };
    expect(checkReconnection('e2', c('lead', 'writer', DELEGATE_HANDLE, TASK_HANDLE), one, catalogue)).toEqual({ ok: true, kind: 'delegate' });
    expect(checkReconnection('e2', c('lead', 'out', DELEGATE_HANDLE, TASK_HANDLE), one, catalogue)).toMatchObject({ ok: false, reason: 'not_delegatable' });
  });
});

describe('wiring the body of a map or a loop', () => {
  const iteration: Graph = {
    nodes: [
      { id: 'brief', type: 'input', label: '', position: { x: 0, y: 0 }, config: {} },
      { id: 'each', type: 'map', label: '', position: { x: 0, y: 0 }, config: { items: 'input.leads' } },
      { id: 'again', type: 'loop', label: '', position: { x: 0, y: 0 }, config: { max_iterations: 3 } },
      { id: 'score', type: 'transform', label: '', position: { x: 0, y: 0 }, config: { template: '{{ upstream }}' } },
      { id: 'ask', type: 'approval', label: '', position: { x: 0, y: 0 }, config: {} },
      { id: 'lead', type: 'manager', label: '', position: { x: 0, y: 0 }, config: { model: 'local/echo' } },
      { id: 'done', type: 'output', label: '', position: { x: 0, y: 0 }, config: {} },
    ],
    edges: [{ id: 'e1', source: 'brief', target: 'each' }],
  };
  const body = (source: string, target: string, targetHandle: string | null = TASK_HANDLE) => c(source, target, DELEGATE_HANDLE, targetHandle);

  it('knows map and loop take a body of any type that has an input', () => {
    expect(delegatesToAny(catalogue.get('map'))).toBe(true);
    expect(delegatesToAny(catalogue.get('loop'))).toBe(true);
    expect(delegatesToAny(catalogue.get('manager'))).toBe(false);
    expect(delegatesToAny({ ...catalogue.get('manager')!, delegates_to_any: true })).toBe(true);
    expect(canBeBody(catalogue.get('transform'))).toBe(true);
    expect(canBeBody(catalogue.get('input'))).toBe(false);
  });

  it('makes a delegate edge from a map or a loop to a transform, an approval gate or a worker', () => {
    for (const [source, target] of [['each', 'score'], ['each', 'ask'], ['again', 'score'], ['each', 'lead']]) {
      expect([source, target, checkConnection(body(source, target), iteration, catalogue)]).toEqual([source, target, { ok: true, kind: 'delegate' }]);
    }
  });

  it('takes the drop on the body’s input handle as well as on its task handle', () => {
    expect(checkConnection(body('each', 'score', 'in'), iteration, catalogue)).toEqual({ ok: true, kind: 'delegate' });
    expect(edgeFromConnection('d1', body('each', 'score', 'in'), 'delegate')).toEqual({ id: 'd1', source: 'each', target: 'score', kind: 'delegate' });
    // a manager's delegation still goes to a worker's task handle only
    expect(checkConnection(body('lead', 'score', 'in'), iteration, catalogue)).toMatchObject({ ok: false, reason: 'not_delegatable' });
  });

  it('refuses a body that takes no input, and one that would loop back', () => {
    expect(checkConnection(body('each', 'brief'), iteration, catalogue)).toMatchObject({ ok: false, reason: 'not_delegatable' });
    expect(checkConnection(body('each', 'score', 'nope'), iteration, catalogue)).toMatchObject({ ok: false, reason: 'task_handle_needs_delegate' });
    const wired: Graph = { ...iteration, edges: [...iteration.edges, { id: 'e2', source: 'score', target: 'again' }] };
    expect(checkConnection(body('again', 'score'), wired, catalogue)).toMatchObject({ ok: false, reason: 'cycle' });
  });
});
