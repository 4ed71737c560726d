import { describe, expect, it } from 'vitest';
import { research } from '../test/fixtures';
import { parseImport } from './WorkflowListPage';

describe('importing a JSON file', () => {
  it('takes a bare graph and names it after the file', () => {
    expect(parseImport(JSON.stringify(research), 'research.json')).toEqual({ name: 'research', description: '', graph: research });
  });

  it('takes an exported workflow with its name and description', () => {
    const text = JSON.stringify({ name: 'Briefing', description: 'x', graph: research, version: 3 });
    expect(parseImport(text, 'export.json')).toEqual({ name: 'Briefing', description: 'x', graph: research });
  });

  it('says what is wrong with a file that is not a flow', () => {
    expect(() => parseImport('{"nodes": 1}', 'a.json')).toThrow(/holds no flow/);
    expect(() => parseImport('nope', 'a.json')).toThrow(/not valid JSON/);
  });
});
