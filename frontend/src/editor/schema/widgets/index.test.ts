import { describe, expect, it } from 'vitest';
import { allTypes } from '../../../test/fixtures';
import { resolveField } from '../resolve';
import { CredentialField } from './CredentialField';
import { JsonField } from './JsonField';
import { NumberField } from './NumberField';
import { TextField } from './TextField';
import { WIDGETS, widgetFor } from './index';

describe('the widget lookup', () => {
  it('has a widget of its own for every kind a real node type’s settings resolve to', () => {
    const kinds = new Set<string>();
    for (const spec of allTypes) {
      for (const [name, schema] of Object.entries(spec.config_schema.properties ?? {})) {
        kinds.add(resolveField(name, schema, spec.config_schema).kind);
      }
    }
    expect(kinds.size).toBeGreaterThan(5);
    for (const kind of kinds) expect([kind, Object.hasOwn(WIDGETS, kind)]).toEqual([kind, true]);
  });

  it('edits each kind with the widget made for it', () => {
    expect(widgetFor('template')).toBe(TextField);
    expect(widgetFor('model')).toBe(TextField);
    expect(widgetFor('integer')).toBe(NumberField);
    expect(widgetFor('credential')).toBe(CredentialField);
    expect(widgetFor('json-schema')).toBe(JsonField);
  });

  it('falls back to JSON text for a kind it does not know, even one named like an object key', () => {
    expect(widgetFor('something-new')).toBe(JsonField);
    expect(widgetFor('constructor')).toBe(JsonField);
  });
});
