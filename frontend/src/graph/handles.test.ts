import { describe, expect, it } from 'vitest';
import { spec } from '../test/fixtures';
import { remapHandles, sourceHandles } from './handles';

describe('handles', () => {
  const router = spec('router');

  it('gives static types their listed outputs', () => {
    expect(sourceHandles(spec('worker'), {})).toEqual(['out', 'error']);
    expect(sourceHandles(spec('output'), {})).toEqual([]);
  });

  it('gives a router one handle per route plus its default branch', () => {
    expect(sourceHandles(router, { routes: [{ name: 'a', when: 'x' }, { name: 'b', when: 'y' }], default: 'other' })).toEqual(['a', 'b', 'other']);
    // default not set: the schema default ("default") applies; null: no default branch
    expect(sourceHandles(router, { routes: [{ name: 'a', when: 'x' }] })).toEqual(['a', 'default']);
    expect(sourceHandles(router, { routes: [{ name: 'a', when: 'x' }], default: null })).toEqual(['a']);
    expect(sourceHandles(router, {})).toEqual(['default']);
  });

  it('moves edges along when a route is renamed, drops them when it is removed', () => {
    const before = { routes: [{ name: 'long', when: 'x' }, { name: 'mid', when: 'y' }], default: 'short' };
    expect(remapHandles(router, before, { ...before, routes: [{ name: 'longer', when: 'x' }, { name: 'mid', when: 'y' }] })).toEqual(
      new Map([['long', 'longer']]),
    );
    expect(remapHandles(router, before, { ...before, routes: [{ name: 'mid', when: 'y' }] })).toEqual(new Map([['long', null]]));
    expect(remapHandles(router, before, { ...before, default: 'tiny' })).toEqual(new Map([['short', 'tiny']]));
    expect(remapHandles(router, before, { ...before, default: null })).toEqual(new Map([['short', null]]));
    // typing through an empty name keeps the edge with the entry
    expect(remapHandles(router, before, { ...before, routes: [{ name: '', when: 'x' }, before.routes[1]] })).toEqual(new Map([['long', '']]));
    expect(remapHandles(spec('worker'), {}, {})).toEqual(new Map());
  });

  it('keeps a classifier’s error handle after its categories and default', () => {
    const classifier = spec('classifier');
    expect(sourceHandles(classifier, { categories: [{ name: 'billing' }, { name: 'bug' }], default: 'other' })).toEqual(['billing', 'bug', 'other', 'error']);
    expect(sourceHandles(classifier, {})).toEqual(['default', 'error']);
    expect(sourceHandles(classifier, { categories: [{ name: 'a' }], default: null })).toEqual(['a', 'error']);
  });
});
