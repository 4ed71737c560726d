import { describe, expect, it } from 'vitest';
import { ID_PATTERN } from '../api/graph';
import { research } from '../test/fixtures';
import { copyFragment, pasteFragment } from './clipboard';
import { autoLayout } from './layout';

describe('copy and paste', () => {
  it('copies the selected nodes with only the edges between them', () => {
    const fragment = copyFragment(research, ['plan', 'research', 'critic']);
    expect(fragment.nodes.map((n) => n.id)).toEqual(['plan', 'research', 'critic']);
    expect(fragment.edges.map((e) => e.id)).toEqual(['e2', 'e3']);
  });

  it('pastes with fresh valid ids, rewired edges and an offset', () => {
    const fragment = copyFragment(research, ['plan', 'research']);
    const pasted = pasteFragment(fragment, research, { x: 40, y: 40 });
    const taken = new Set(research.nodes.map((n) => n.id));
    expect(pasted.ids).toHaveLength(2);
    for (const id of pasted.ids) {
      expect(taken.has(id)).toBe(false);
      expect(id).toMatch(ID_PATTERN);
    }
    const [plan, worker] = pasted.nodes;
    expect(plan.type).toBe('transform');
    expect(plan.position).toEqual({ x: 290, y: 40 });
    expect(pasted.edges).toHaveLength(1);
    expect(pasted.edges[0]).toMatchObject({ source: plan.id, target: worker.id });
    expect(research.edges.some((e) => e.id === pasted.edges[0].id)).toBe(false);
    // the copy is deep: editing it leaves the original alone
    (pasted.nodes[0].config as { template: string }).template = 'changed';
    expect(research.nodes[1].config.template).not.toBe('changed');
  });
});

describe('auto-layout', () => {
  it('places nodes left to right along the flow, without overlaps', () => {
    const positions = autoLayout(research, {});
    const x = (id: string) => positions[id].x;
    expect(x('brief')).toBeLessThan(x('plan'));
    expect(x('plan')).toBeLessThan(x('research'));
    expect(x('research')).toBe(x('critic'));
    expect(x('merge')).toBeLessThan(x('size'));
    expect(positions.research.y).not.toBe(positions.critic.y);
    expect(Math.abs(positions.research.y - positions.critic.y)).toBeGreaterThanOrEqual(88);
    expect(Object.keys(positions).sort()).toEqual(research.nodes.map((n) => n.id).sort());
  });

  it('keeps the top-left corner of the drawing where it was', () => {
    const shifted = { ...research, nodes: research.nodes.map((n) => ({ ...n, position: { x: n.position.x + 500, y: n.position.y + 300 } })) };
    const positions = autoLayout(shifted, {});
    expect(Math.min(...Object.values(positions).map((p) => p.x))).toBe(500);
    expect(Math.min(...Object.values(positions).map((p) => p.y))).toBe(220);
  });
});
