// A select of choices loaded from the workspace (`children`: their options), shared by the
// credential and workflow widgets.

import type { ReactNode } from 'react';
import { FieldRow } from './FieldRow';
import type { FormContext } from './formContext';
import type { ResolvedField } from './resolve';

/** The current value is kept even when it is not among the choices, and a line says while they
 *  load, when they cannot be had, or that there are none. */
export function PickerField({
  row,
  current,
  listed,
  missingText,
  choices,
  offered,
  what,
  placeholder,
  none,
  onChange,
  children,
}: {
  row: { ctx: FormContext; field: ResolvedField; required: boolean; path: string };
  current: string;
  listed: boolean;
  missingText: string | null;
  choices: { status: 'loading' } | { status: 'error'; message: string } | { status: 'ready' };
  offered: number;
  what: string;
  placeholder: string;
  none: string;
  onChange: (value: string) => void;
  children: ReactNode;
}) {
  const { path } = row;
  return (
    <FieldRow {...row} localError={missingText}>
      {({ id, describedBy, invalid }) => (
        <>
          <select
            id={id}
            className="input nodrag"
            value={current}
            aria-describedby={describedBy}
            aria-invalid={invalid || undefined}
            data-testid={`field-${path}`}
            onChange={(e) => onChange(e.target.value)}
          >
            <option value="">{placeholder}</option>
            {children}
            {current !== '' && !listed && <option value={current}>{current}</option>}
          </select>
          {choices.status === 'loading' && <p className="field-help muted">Loading the workspace's {what}…</p>}
          {choices.status === 'error' && (
            <p className="field-help muted" data-testid={`field-${path}-unavailable`}>
              {what.charAt(0).toUpperCase() + what.slice(1)} unavailable: {choices.message}
            </p>
          )}
          {choices.status === 'ready' && offered === 0 && (
            <p className="field-help muted" data-testid={`field-${path}-none`}>
              {none}
            </p>
          )}
        </>
      )}
    </FieldRow>
  );
}
