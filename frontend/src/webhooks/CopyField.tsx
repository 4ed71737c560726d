// A secret shown once (an invitation link, a token, a webhook URL): read-only text with a Copy
// button. Shared by the members, tokens and webhook screens.

import { useRef, useState, type ReactNode } from 'react';

async function copyText(text: string, input: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // an insecure origin or a denied permission: fall back to selecting the text
  }
  input?.select();
  return false;
}

// Inline: the shared stylesheet belongs to the whole app; these two rules are this widget's own.
const ROW = { display: 'flex', gap: '8px', alignItems: 'center' } as const;

export function CopyField({ value, label, testId }: { value: string; label: string; testId: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'select'>('idle');
  const input = useRef<HTMLInputElement>(null);
  return (
    <div className="field">
      <label className="field-label" htmlFor={`${testId}-value`}>
        {label}
      </label>
      <div style={ROW}>
        <input
          id={`${testId}-value`}
          ref={input}
          className="input mono"
          style={{ flex: 1, minWidth: 0 }}
          readOnly
          value={value}
          data-testid={`${testId}-value`}
          onFocus={(event) => event.target.select()}
        />
        <button
          type="button"
          className="btn btn-secondary btn-small"
          data-testid={`${testId}-copy`}
          onClick={() => void copyText(value, input.current).then((ok) => setState(ok ? 'copied' : 'select'))}
        >
          {state === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      {state === 'select' && <p className="field-help">Copying is blocked here: the text is selected, press Ctrl/Cmd+C.</p>}
    </div>
  );
}

/** The banner a new secret is shown in, once: what it is (`children`), the secret with its Copy
 *  button, and anything more (`after`: a curl example, a "done" button). */
export function ShownOnce({ testId, value, label, copyTestId, children, after }: { testId: string; value: string; label: string; copyTestId: string; children: ReactNode; after?: ReactNode }) {
  return (
    <div className="banner banner-success" style={{ display: 'block' }} data-testid={testId}>
      <p>{children}</p>
      <CopyField value={value} label={label} testId={copyTestId} />
      {after}
    </div>
  );
}
