// Several of a fixed set of values (a worker's tools): one checkbox each.

import { domId, type WidgetProps } from '../formContext';
import { deref } from '../resolve';

export function ChoiceListField({ ctx, field, required, value, fieldPath, onSet }: WidgetProps) {
  const chosen = Array.isArray(value) ? (value as unknown[]) : [];
  const options = deref(field.schema.items ?? {}, ctx.root).enum ?? [];
  const error = ctx.errors[fieldPath];
  const id = domId(ctx, fieldPath);
  return (
    <fieldset className={`field field-choices${error ? ' field-invalid' : ''}`} data-testid={`field-${fieldPath}`}>
      <legend className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </legend>
      <div className="choices">
        {options.map((option) => {
          const text = String(option);
          const on = chosen.some((c) => c === option);
          return (
            <label key={text} className={`choice${on ? ' on' : ''}`} htmlFor={`${id}-${text}`}>
              <input
                id={`${id}-${text}`}
                type="checkbox"
                className="nodrag"
                checked={on}
                data-testid={`field-${fieldPath}-${text}`}
                onChange={() => onSet(on ? chosen.filter((c) => c !== option) : [...chosen, option])}
              />
              {text.replace(/_/g, ' ')}
            </label>
          );
        })}
      </div>
      {error && (
        <p className="field-error" data-testid={`field-error-${fieldPath}`} role="alert">
          {error}
        </p>
      )}
      {field.description && <p className="field-help">{field.description}</p>}
    </fieldset>
  );
}
