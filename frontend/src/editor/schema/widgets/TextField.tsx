// Text: one line, or a text area for long text and templates (with buttons that insert the
// values a template may read); a model name with the catalogue's suggestions, and its note.

import { useRef } from 'react';
import { FieldRow } from '../FieldRow';
import { placeholderOf, type WidgetProps } from '../formContext';

export function TextField({ ctx, field, required, value, fieldPath, onSet, emptyValue }: WidgetProps) {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
  const areaRef = useRef<HTMLTextAreaElement>(null);
  const change = (next: string) => onSet(next === '' && emptyValue === null ? null : next);
  const multiline = field.kind === 'template' || field.kind === 'textarea';
  const insert = (snippet: string) => {
    const area = areaRef.current;
    const start = area?.selectionStart ?? text.length;
    const end = area?.selectionEnd ?? text.length;
    change(text.slice(0, start) + snippet + text.slice(end));
    requestAnimationFrame(() => {
      area?.focus();
      area?.setSelectionRange(start + snippet.length, start + snippet.length);
    });
  };
  return (
    <>
      <FieldRow ctx={ctx} field={field} required={required} path={fieldPath}>
        {({ id, describedBy, invalid }) =>
          multiline ? (
            <>
              <textarea
                id={id}
                ref={areaRef}
                className={`input nodrag nowheel${field.kind === 'template' ? ' mono' : ''}`}
                rows={Math.min(12, Math.max(3, text.split('\n').length + 1))}
                value={text}
                placeholder={placeholderOf(field)}
                aria-describedby={describedBy}
                aria-invalid={invalid || undefined}
                data-testid={`field-${fieldPath}`}
                spellCheck={field.kind !== 'template'}
                onChange={(e) => change(e.target.value)}
              />
              {field.kind === 'template' && (
                <div className="template-vars" aria-label="Insert a value">
                  <button type="button" className="chip" onClick={() => insert('{{ upstream }}')}>
                    upstream
                  </button>
                  <button type="button" className="chip" onClick={() => insert('{{ input }}')}>
                    input
                  </button>
                  {ctx.upstream.map((ref) => (
                    <button
                      type="button"
                      key={ref.id}
                      className="chip"
                      title={`Insert {{ nodes.${ref.id}.output }}`}
                      onClick={() => insert(`{{ nodes.${ref.id}.output }}`)}
                    >
                      {ref.label || ref.id}
                    </button>
                  ))}
                </div>
              )}
            </>
          ) : (
            <input
              id={id}
              type="text"
              className={`input nodrag${field.kind === 'expression' ? ' mono' : ''}`}
              value={text}
              list={field.kind === 'model' ? (field.schema.examples?.length ? `${ctx.modelListId}-${fieldPath}` : ctx.modelListId) : undefined}
              placeholder={placeholderOf(field)}
              autoComplete="off"
              spellCheck={false}
              aria-describedby={describedBy}
              aria-invalid={invalid || undefined}
              data-testid={`field-${fieldPath}`}
              onChange={(e) => change(e.target.value)}
            />
          )
        }
      </FieldRow>
      {field.kind === 'model' && ctx.modelNote(text) ? (
        <p className="field-help muted" data-testid={`field-${fieldPath}-note`}>
          {ctx.modelNote(text)}
        </p>
      ) : null}
      {field.kind === 'model' && field.schema.examples?.length ? (
        // the tiers and the type's own examples first (e.g. "fast", "strong"), then the catalogue with prices
        <datalist id={`${ctx.modelListId}-${fieldPath}`}>
          {ctx.modelOptions(field.schema.examples.map(String)).map((option) => (
            <option key={option.value} value={option.value} label={option.label} />
          ))}
        </datalist>
      ) : null}
    </>
  );
}
