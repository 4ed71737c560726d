// A list of strings, typed comma-separated.

import { useEffect, useState } from 'react';
import { FieldRow } from '../FieldRow';
import type { WidgetProps } from '../formContext';

export function StringListField({ ctx, field, required, value, fieldPath, onSet, emptyValue }: WidgetProps) {
  const list = Array.isArray(value) ? (value as unknown[]).map(String) : [];
  const [draft, setDraft] = useState(list.join(', '));
  useEffect(() => {
    setDraft((current) => {
      const parsed = current.split(',').map((s) => s.trim()).filter(Boolean);
      return parsed.join('\u0000') === list.join('\u0000') ? current : list.join(', ');
    });
  }, [list.join('\u0000')]);
  return (
    <FieldRow ctx={ctx} field={field} required={required} path={fieldPath}>
      {({ id, describedBy, invalid }) => (
        <input
          id={id}
          type="text"
          className="input nodrag"
          value={draft}
          placeholder={field.nullable ? 'Comma-separated; empty for none' : 'Comma-separated'}
          aria-describedby={describedBy}
          aria-invalid={invalid || undefined}
          data-testid={`field-${fieldPath}`}
          onChange={(e) => {
            setDraft(e.target.value);
            const items = e.target.value.split(',').map((s) => s.trim()).filter(Boolean);
            onSet(items.length ? items : emptyValue === null ? null : []);
          }}
        />
      )}
    </FieldRow>
  );
}
