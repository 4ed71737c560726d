// A nested settings object (a retry policy): a collapsible group of its own fields, open while one
// of them has a message, with a way back to the defaults.

import type { WidgetProps } from '../formContext';

export function ObjectGroupField({ ctx, field, value, path, fieldPath, onSet }: WidgetProps) {
  const isSet = value !== undefined && value !== null;
  return (
    <details className="field-group" open={!!Object.keys(ctx.errors).find((p) => p.startsWith(`${fieldPath}.`))}>
      <summary>
        <span>{field.title}</span>
        <span className="muted small">{isSet ? 'customised' : 'defaults'}</span>
      </summary>
      {field.description && <p className="field-help">{field.description}</p>}
      <div className="field-group-body">
        {ctx.objectFields(field.schema, value, path)}
        {isSet && (
          <button type="button" className="btn btn-link btn-small" onClick={() => onSet(undefined)}>
            Reset to defaults
          </button>
        )}
      </div>
    </details>
  );
}
