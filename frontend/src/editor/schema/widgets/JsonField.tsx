// Any other value as JSON text (and a JSON Schema, checked to be one): what does not parse says
// so and is not stored.

import { useEffect, useState } from 'react';
import type { JsonSchema } from '../../../api/graph';
import { FieldRow } from '../FieldRow';
import type { WidgetProps } from '../formContext';

export function JsonField({ ctx, field, required, value, fieldPath, onSet, emptyValue }: WidgetProps) {
  const format = (v: unknown) => (v === undefined || v === null ? '' : JSON.stringify(v, null, 2));
  const [draft, setDraft] = useState(format(value));
  const [local, setLocal] = useState<string | null>(null);
  const serialised = JSON.stringify(value ?? null);
  useEffect(() => {
    setDraft((current) => {
      try {
        if (current.trim() && JSON.stringify(JSON.parse(current)) === serialised) return current;
      } catch {
        /* the draft is mid-edit; replace it with the outside value */
      }
      return format(value);
    });
    setLocal(null);
  }, [serialised]);
  const change = (text: string) => {
    setDraft(text);
    if (!text.trim()) {
      setLocal(null);
      onSet(emptyValue);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      setLocal(`Not valid JSON: ${(error as Error).message}`);
      return;
    }
    if (field.kind === 'json-schema') {
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        setLocal('A JSON Schema is an object, e.g. {"type": "object", "properties": {…}}');
        return;
      }
      const props = (parsed as JsonSchema).properties;
      if (props !== undefined && (typeof props !== 'object' || Array.isArray(props))) {
        setLocal('“properties” must be an object of field schemas');
        return;
      }
    }
    setLocal(null);
    onSet(parsed);
  };
  const example = {
    type: 'object',
    properties: { topic: { type: 'string', title: 'Topic', description: 'What to write about' } },
    required: ['topic'],
  };
  return (
    <FieldRow ctx={ctx} field={field} required={required} path={fieldPath} localError={local}>
      {({ id, describedBy, invalid }) => (
        <>
          <textarea
            id={id}
            className="input mono nodrag nowheel"
            rows={Math.min(14, Math.max(4, draft.split('\n').length + 1))}
            value={draft}
            placeholder={field.kind === 'json-schema' ? '{"type": "object", "properties": {…}}' : 'JSON'}
            spellCheck={false}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            data-testid={`field-${fieldPath}`}
            onChange={(e) => change(e.target.value)}
          />
          {field.kind === 'json-schema' && !draft.trim() && (
            <button type="button" className="btn btn-link btn-small" onClick={() => change(JSON.stringify(example, null, 2))}>
              Start from an example
            </button>
          )}
        </>
      )}
    </FieldRow>
  );
}
