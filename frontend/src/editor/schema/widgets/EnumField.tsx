// One of a fixed set of values: a select, with "default" (or a dash) when the field may be left out.

import { FieldRow } from '../FieldRow';
import type { WidgetProps } from '../formContext';

export function EnumField({ ctx, field, required, value, fieldPath, onSet, emptyValue }: WidgetProps) {
  const options = field.schema.enum ?? [];
  const current = value === undefined || value === null ? '' : String(value);
  return (
    <FieldRow ctx={ctx} field={field} required={required} path={fieldPath}>
      {({ id, describedBy, invalid }) => (
        <select
          id={id}
          className="input nodrag"
          value={current}
          aria-describedby={describedBy}
          aria-invalid={invalid || undefined}
          data-testid={`field-${fieldPath}`}
          onChange={(e) => {
            const picked = options.find((o) => String(o) === e.target.value);
            onSet(e.target.value === '' ? emptyValue : picked);
          }}
        >
          {(!required || current === '') && (
            <option value="">{field.default !== undefined && field.default !== null ? `Default (${String(field.default)})` : '—'}</option>
          )}
          {options.map((option) => (
            <option key={String(option)} value={String(option)}>
              {String(option)}
            </option>
          ))}
        </select>
      )}
    </FieldRow>
  );
}
