import { describe, expect, it } from 'vitest';
import { realCatalogue, spec } from '../../test/fixtures';
import { initialConfig, newItem, resolveField } from './resolve';
import { configPath, setIn, validate } from './validate';

describe('settings validation against the real node schemas', () => {
  const worker = spec('worker').config_schema;
  const router = spec('router').config_schema;
  const transform = spec('transform').config_schema;

  it('starts new nodes from the schema defaults, asking only for what has none', () => {
    expect(validate(worker, initialConfig(worker))).toEqual({});
    expect(initialConfig(worker)).toMatchObject({ model: 'local/echo', instructions: '{{ upstream }}', timeout: 120, stream: true });
    const asks = Object.fromEntries(realCatalogue.map((s) => [s.type, validate(s.config_schema, initialConfig(s.config_schema))]));
    expect(asks).toEqual({
      input: {},
      output: {},
      worker: {},
      manager: {},
      transform: { template: 'Required' },
      router: { routes: 'Add at least 1 item' },
      classifier: { categories: 'Add at least 1 item' },
    });
  });

  it('reports a missing required field under its name', () => {
    expect(validate(transform, {})).toEqual({ template: 'Required' });
    expect(validate(transform, { template: '' })).toEqual({ template: 'Must not be empty' });
    expect(validate(transform, { template: 'hi {{ input }}' })).toEqual({});
  });

  it('checks minimum and maximum, including on nullable numbers (anyOf with null)', () => {
    expect(validate(worker, { temperature: 2.5 })).toEqual({ temperature: 'Must be at most 2' });
    expect(validate(worker, { temperature: -1 })).toEqual({ temperature: 'Must be at least 0' });
    expect(validate(worker, { temperature: null })).toEqual({});
    expect(validate(worker, { temperature: 0.7 })).toEqual({});
    expect(validate(worker, { timeout: 0 })).toEqual({ timeout: 'Must be more than 0' });
  });

  it('checks types: whole numbers, text, switches', () => {
    expect(validate(worker, { max_tokens: 10.5 })).toEqual({ max_tokens: 'Must be a whole number' });
    expect(validate(worker, { role: 42 })).toEqual({ role: 'Must be text' });
    expect(validate(worker, { stream: 'yes' })).toEqual({ stream: 'Must be on or off' });
  });

  it('checks lengths', () => {
    expect(validate(worker, { role: 'x'.repeat(201) })).toEqual({ role: 'At most 200 characters (now 201)' });
  });

  it('follows $ref into nested objects (the retry policy) and names the nested path', () => {
    expect(validate(worker, { retry: { max_attempts: 0 } })).toEqual({ 'retry.max_attempts': 'Must be at least 1' });
    expect(validate(worker, { retry: { max_attempts: 3, backoff: 0.5 } })).toEqual({ 'retry.backoff': 'Must be at least 1' });
    expect(validate(worker, { retry: { max_attempts: 3, retry_on: ['rate_limited'] } })).toEqual({});
  });

  it('validates arrays of objects (router routes): count, required and pattern per item', () => {
    expect(validate(router, { routes: [] })).toEqual({ routes: 'Add at least 1 item' });
    expect(validate(router, {})).toEqual({ routes: 'Required' });
    const errors = validate(router, { routes: [{ name: '1bad', when: '' }, { name: 'ok' }] });
    expect(errors['routes[0].name']).toBe('Use letters, digits, _ or -, starting with a letter or _');
    expect(errors['routes[0].when']).toBe('Must not be empty');
    expect(errors['routes[1].when']).toBe('Required');
    expect(validate(router, { routes: [{ name: 'long', when: 'upstream | length > 40' }], default: 'short' })).toEqual({});
    expect(validate(router, { routes: [{ name: 'a', when: 'x' }], default: 'no spaces' })).toHaveProperty('default');
  });

  it('reports settings the schema does not know (additionalProperties: false)', () => {
    expect(validate(transform, { template: 'x', colour: 'red' })).toEqual({ colour: 'Unknown setting “colour”' });
  });

  it('checks enums and JSON Schemas written by the user (the run input form)', () => {
    const fields = { type: 'object' as const, properties: { topic: { type: 'string' as const, minLength: 3 }, tone: { enum: ['calm', 'loud'] } }, required: ['topic'] };
    expect(validate(fields, {})).toEqual({ topic: 'Required' });
    expect(validate(fields, { topic: 'ab', tone: 'shy' })).toEqual({ topic: 'At least 3 characters', tone: 'Must be one of: calm, loud' });
  });
});

describe('form helpers', () => {
  it('picks a widget per field', () => {
    const worker = spec('worker').config_schema;
    const kind = (name: string) => resolveField(name, worker.properties![name], worker).kind;
    expect(kind('model')).toBe('model');
    expect(kind('instructions')).toBe('template');
    expect(kind('temperature')).toBe('number');
    expect(kind('max_tokens')).toBe('integer');
    expect(kind('stream')).toBe('boolean');
    expect(kind('retry')).toBe('object');
    expect(resolveField('temperature', worker.properties!.temperature, worker).nullable).toBe(true);
    const router = spec('router').config_schema;
    expect(resolveField('routes', router.properties!.routes, router).kind).toBe('array-objects');
    const input = spec('input').config_schema;
    expect(resolveField('fields', input.properties!.fields, input).kind).toBe('json-schema');
    const approval = spec('approval').config_schema;
    expect(resolveField('on_deadline', approval.properties!.on_deadline, approval).kind).toBe('enum');
    expect(resolveField('approvers', approval.properties!.approvers, approval).kind).toBe('array-strings');
    expect(kind('tools')).toBe('tools');
    expect(validate(worker, { tools: ['calculator', 'calculator'] })).toEqual({ tools: 'Each item may appear only once' });
    expect(validate(worker, { tools: ['calculator', 'mcp:time/get_current_time', 'http:weather', 'workflow:abc'] })).toEqual({});
    expect(Object.keys(validate(worker, { tools: ['rm -rf /'] }))).toEqual(['tools[0]']);
  });

  it('starts a new route with a name and an empty condition', () => {
    const router = spec('router').config_schema;
    expect(newItem(router.properties!.routes.items!, router, 1)).toEqual({ name: 'route_2', when: '' });
    expect(initialConfig(router)).toEqual({ routes: [], default: 'default' });
  });

  it('sets values at paths without touching the original', () => {
    const config = { routes: [{ name: 'a', when: 'x' }], retry: { max_attempts: 2 } };
    const next = setIn(config, ['routes', 0, 'when'], 'y') as typeof config;
    expect(next.routes[0]).toEqual({ name: 'a', when: 'y' });
    expect(config.routes[0].when).toBe('x');
    expect(setIn(config, ['retry'], undefined)).toEqual({ routes: config.routes });
  });

  it('maps server issue fields onto form paths', () => {
    expect(configPath('config.routes[0].when')).toBe('routes[0].when');
    expect(configPath('config')).toBe('');
    expect(configPath('source_handle')).toBeNull();
    expect(configPath(null)).toBeNull();
  });
});
