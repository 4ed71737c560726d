// A yes/no setting: a switch.

import { FieldRow } from '../FieldRow';
import type { WidgetProps } from '../formContext';

export function BooleanField({ ctx, field, required, value, fieldPath, onSet }: WidgetProps) {
  const checked = typeof value === 'boolean' ? value : field.default === true;
  return (
    <FieldRow ctx={ctx} field={field} required={required} path={fieldPath} inline>
      {({ id, describedBy }) => (
        <input
          id={id}
          type="checkbox"
          role="switch"
          className="switch nodrag"
          checked={checked}
          aria-describedby={describedBy}
          data-testid={`field-${fieldPath}`}
          onChange={(e) => onSet(e.target.checked)}
        />
      )}
    </FieldRow>
  );
}
