// A number or an integer, typed as text: what is not yet a number says so and is not stored.

import { useEffect, useState } from 'react';
import { FieldRow } from '../FieldRow';
import { placeholderOf, type WidgetProps } from '../formContext';

export function NumberField({ ctx, field, required, value, fieldPath, onSet, emptyValue }: WidgetProps) {
  const shown = typeof value === 'number' ? String(value) : '';
  const [draft, setDraft] = useState(shown);
  const [local, setLocal] = useState<string | null>(null);
  // follow outside changes (undo, another field) unless the draft already means the same number
  useEffect(() => {
    setDraft((current) => (Number(current) === value && current.trim() !== '' ? current : shown));
    setLocal(null);
  }, [shown, value]);
  const change = (text: string) => {
    setDraft(text);
    const trimmed = text.trim();
    if (trimmed === '') {
      setLocal(null);
      onSet(emptyValue);
      return;
    }
    const number = Number(trimmed);
    if (!Number.isFinite(number)) {
      setLocal('Enter a number');
      return;
    }
    if (field.kind === 'integer' && !Number.isInteger(number)) {
      setLocal('Enter a whole number');
      return;
    }
    setLocal(null);
    onSet(number);
  };
  return (
    <FieldRow ctx={ctx} field={field} required={required} path={fieldPath} localError={local}>
      {({ id, describedBy, invalid }) => (
        <input
          id={id}
          type="text"
          inputMode={field.kind === 'integer' ? 'numeric' : 'decimal'}
          className="input input-number nodrag"
          value={draft}
          placeholder={placeholderOf(field)}
          aria-describedby={describedBy}
          aria-invalid={invalid || undefined}
          data-testid={`field-${fieldPath}`}
          onChange={(e) => change(e.target.value)}
        />
      )}
    </FieldRow>
  );
}
