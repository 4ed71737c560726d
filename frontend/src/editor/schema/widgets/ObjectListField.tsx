// A list of settings objects (a router's routes): each item's fields under its title, with buttons
// to move it, remove it, and add another.

import type { WidgetProps } from '../formContext';
import { deref, newItem } from '../resolve';

export function ObjectListField({ ctx, field, required, value, path, fieldPath, onSet }: WidgetProps) {
  const items = Array.isArray(value) ? (value as unknown[]) : [];
  const itemSchema = deref(field.schema.items ?? {}, ctx.root);
  const itemTitle = itemSchema.title ?? 'Item';
  const error = ctx.errors[fieldPath];
  const max = field.schema.maxItems;
  const set = (next: unknown[]) => onSet(next);
  const move = (from: number, to: number) => {
    const next = [...items];
    const [moved] = next.splice(from, 1);
    next.splice(to, 0, moved);
    set(next);
  };
  return (
    <fieldset className={`field field-list${error ? ' field-invalid' : ''}`}>
      <legend className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </legend>
      {field.description && <p className="field-help">{field.description}</p>}
      {items.length === 0 && <p className="muted small">No {itemTitle.toLowerCase()}s yet.</p>}
      <ol className="list-items">
        {items.map((item, index) => (
          <li key={index} className="list-item" data-testid={`list-item-${fieldPath}-${index}`}>
            <div className="list-item-head">
              <span className="list-item-title">
                {itemTitle} {index + 1}
              </span>
              <span className="list-item-actions">
                <button
                  type="button"
                  className="icon-btn"
                  aria-label={`Move ${itemTitle} ${index + 1} up`}
                  disabled={index === 0}
                  onClick={() => move(index, index - 1)}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="icon-btn"
                  aria-label={`Move ${itemTitle} ${index + 1} down`}
                  disabled={index === items.length - 1}
                  onClick={() => move(index, index + 1)}
                >
                  ↓
                </button>
                <button
                  type="button"
                  className="icon-btn danger"
                  aria-label={`Remove ${itemTitle} ${index + 1}`}
                  onClick={() => set(items.filter((_, i) => i !== index))}
                >
                  ×
                </button>
              </span>
            </div>
            {ctx.objectFields(itemSchema, item, [...path, index])}
          </li>
        ))}
      </ol>
      {error && (
        <p className="field-error" data-testid={`field-error-${fieldPath}`} role="alert">
          {error}
        </p>
      )}
      <button
        type="button"
        className="btn btn-secondary btn-small"
        disabled={max !== undefined && items.length >= max}
        data-testid={`add-${fieldPath}`}
        onClick={() => set([...items, newItem(itemSchema, ctx.root, items.length)])}
      >
        + Add {itemTitle.toLowerCase()}
      </button>
    </fieldset>
  );
}
