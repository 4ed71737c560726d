import { describe, expect, it } from 'vitest';
import type { JsonSchema } from '../api/graph';
import { validate } from '../editor/schema/validate';
import { formOrder, withDefaults } from './RunDialog';

const fields: JsonSchema = {
  type: 'object',
  properties: {
    region: { type: 'string', default: 'Northern Europe' },
    figures: { type: 'string' },
    product: { type: 'string', title: 'Product line', default: 'espresso machines' },
    topic: { type: 'string' },
  },
  required: ['topic', 'product'],
};

describe('the run dialog', () => {
  it('takes a required field with a default as given, as the server does', () => {
    expect(validate(fields, withDefaults(fields, { topic: 'x' }))).toEqual({});
    expect(withDefaults(fields, { topic: 'x', product: '' })).toEqual({
      topic: 'x',
      product: 'espresso machines',
      region: 'Northern Europe',
    });
  });

  it('still asks for a required field without a default', () => {
    expect(validate(fields, withDefaults(fields, {}))).toEqual({ topic: 'Required' });
  });

  it('keeps what was typed over the default', () => {
    expect(withDefaults(fields, { topic: 'x', product: 'grinders' })).toMatchObject({ product: 'grinders' });
  });

  it('lists required fields first, in their order, then the rest as given', () => {
    expect(Object.keys(formOrder(fields).properties ?? {})).toEqual(['topic', 'product', 'region', 'figures']);
  });
});
