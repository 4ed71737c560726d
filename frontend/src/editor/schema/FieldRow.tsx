// One labelled field of the settings form: the label, the control (given its id and the ids that
// describe it), the message under it and the field's help.

import type { ReactNode } from 'react';
import { domId, type FormContext } from './formContext';
import type { ResolvedField } from './resolve';

export function FieldRow({
  ctx,
  field,
  required,
  path,
  children,
  localError,
  inline = false,
}: {
  ctx: FormContext;
  field: ResolvedField;
  required: boolean;
  path: string;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
  /** a message of the widget's own (text that is not yet a value) before the form's */
  localError?: string | null;
  inline?: boolean;
}) {
  const id = domId(ctx, path);
  const error = localError ?? ctx.errors[path];
  const helpId = field.description ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, helpId].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${inline ? ' field-inline' : ''}${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id} className="field-label">
        {field.title}
        {required && (
          <span className="required" aria-hidden="true">
            *
          </span>
        )}
      </label>
      {children({ id, describedBy, invalid: !!error })}
      {error && (
        <p className="field-error" id={errorId} data-testid={`field-error-${path}`} role="alert">
          {error}
        </p>
      )}
      {field.description && (
        <p className="field-help" id={helpId}>
          {field.description}
        </p>
      )}
    </div>
  );
}
