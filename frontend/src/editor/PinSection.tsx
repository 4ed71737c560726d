// "Pin output" in a node's settings: pin the output this node gave in the last run (or one typed
// as JSON) so that test runs from the editor give it instead of running the node; unpin.

import { useEffect, useState } from 'react';
import { formatValue } from '../run/format';
import { parseEditedOutput, shortId } from '../run/rerun';
import { PinGlyph } from './PinGlyph';
import type { RunOutputs } from './usePins';
import '../run/timeTravel.css';

export interface PinSectionProps {
  nodeId: string;
  pinned: boolean;
  value: unknown;
  /** the last run's outputs (null: none known); `onNeedLast` asks for them */
  last: RunOutputs | null;
  lastLoading: boolean;
  onNeedLast: () => void;
  canEdit: boolean;
  saving: boolean;
  error: string | null;
  onPin: (output: unknown) => Promise<boolean>;
  onUnpin: () => Promise<boolean>;
}

export function PinSection({ nodeId, pinned, value, last, lastLoading, onNeedLast, canEdit, saving, error, onPin, onUnpin }: PinSectionProps) {
  const [typing, setTyping] = useState(false);
  const [text, setText] = useState('');
  const [textError, setTextError] = useState<string | null>(null);
  useEffect(onNeedLast, [onNeedLast]);
  useEffect(() => {
    setTyping(false);
    setTextError(null);
  }, [nodeId, pinned]);

  const fromLast = last && nodeId in last.outputs ? { runId: last.runId, output: last.outputs[nodeId] } : null;

  const startTyping = (initial: unknown) => {
    setText(JSON.stringify(initial === undefined ? null : initial, null, 2));
    setTextError(null);
    setTyping(true);
  };
  const pinTyped = async () => {
    const parsed = parseEditedOutput(text);
    if (!parsed.ok) {
      setTextError(parsed.message);
      return;
    }
    if (await onPin(parsed.value)) setTyping(false);
  };

  return (
    <section className={`pin-section${pinned ? ' is-pinned' : ''}`} data-testid="pin-section" aria-label="Pin output">
      <h3 className="section-title">
        Pin output
        {pinned && (
          <span className="pin-state" data-testid="pin-state">
            <PinGlyph /> pinned
          </span>
        )}
      </h3>
      {pinned ? (
        <>
          <p className="muted small">Test runs from the editor give this output instead of running the node (webhook and API runs still run it).</p>
          {!typing && (
            <pre className="code-block pin-value" data-testid="pin-value">
              {formatValue(value)}
            </pre>
          )}
        </>
      ) : (
        <p className="muted small">
          Pin an output to skip this node in test runs from the editor: a costly model call or a flaky API gives the same answer each time.
        </p>
      )}
      {typing && (
        <div className={`field${textError ? ' field-invalid' : ''}`}>
          <label className="field-label" htmlFor={`pin-json-${nodeId}`}>
            Output (JSON)
          </label>
          <textarea
            id={`pin-json-${nodeId}`}
            className="input mono"
            rows={8}
            spellCheck={false}
            value={text}
            data-testid="pin-json"
            aria-invalid={!!textError || undefined}
            onChange={(e) => {
              setText(e.target.value);
              setTextError(null);
            }}
          />
          {textError && (
            <p className="field-error" role="alert" data-testid="pin-json-error">
              {textError}
            </p>
          )}
        </div>
      )}
      {error && (
        <p className="field-error" role="alert" data-testid="pin-error">
          {error}
        </p>
      )}
      {canEdit && (
        <div className="pin-actions">
          {typing ? (
            <>
              <button type="button" className="btn btn-primary btn-small" data-testid="pin-typed" disabled={saving} onClick={() => void pinTyped()}>
                {saving ? 'Pinning…' : 'Pin this output'}
              </button>
              <button type="button" className="btn btn-ghost btn-small" onClick={() => setTyping(false)}>
                Cancel
              </button>
            </>
          ) : (
            <>
              {fromLast && (
                <button
                  type="button"
                  className="btn btn-secondary btn-small"
                  data-testid="pin-last-run"
                  disabled={saving}
                  title={formatValue(fromLast.output).slice(0, 400)}
                  onClick={() => void onPin(fromLast.output)}
                >
                  Pin the output of run {shortId(fromLast.runId)}
                </button>
              )}
              {!fromLast && lastLoading && <span className="muted small">Looking for the last run…</span>}
              <button type="button" className="btn btn-ghost btn-small" data-testid="pin-type" onClick={() => startTyping(pinned ? value : (fromLast?.output ?? null))}>
                {pinned ? 'Edit' : 'Type an output'}
              </button>
              {pinned && (
                <button type="button" className="btn btn-ghost btn-small" data-testid="unpin" disabled={saving} onClick={() => void onUnpin()}>
                  Unpin
                </button>
              )}
            </>
          )}
        </div>
      )}
    </section>
  );
}
