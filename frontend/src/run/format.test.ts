import { describe, expect, it } from 'vitest';
import { formatCost, formatDuration, formatTokens, formatValue } from './format';

describe('figures on cards', () => {
  it('formats cost with two significant digits below a dollar', () => {
    expect(formatCost(0)).toBe('$0');
    expect(formatCost(0.00045)).toBe('$0.00045');
    expect(formatCost(0.0123)).toBe('$0.012');
    expect(formatCost(0.5)).toBe('$0.5');
    expect(formatCost(12.345)).toBe('$12.35');
    expect(formatCost(1e-9)).toBe('<$0.000001');
  });

  it('formats durations and token counts', () => {
    expect(formatDuration(0.4)).toBe('<1 ms');
    expect(formatDuration(850)).toBe('850 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
    expect(formatDuration(65_000)).toBe('1 m 5 s');
    expect(formatDuration(null)).toBe('');
    expect(formatTokens(999)).toBe('999');
    expect(formatTokens(1500)).toBe('1.5k');
    expect(formatTokens(25_000)).toBe('25k');
  });
});

describe('formatValue on several outputs', () => {
  it('shows an object of texts as labelled text with real line breaks', () => {
    expect(formatValue({ publish: 'Facts: a\nRisks: b', too_short: 'none' })).toBe(
      'publish:\nFacts: a\nRisks: b\n\ntoo_short:\nnone',
    );
  });

  it('keeps JSON for anything else', () => {
    expect(formatValue({ score: 3, issues: ['x'] })).toBe(JSON.stringify({ score: 3, issues: ['x'] }, null, 2));
    expect(formatValue({})).toBe('{}');
  });
});
