// The dialog of time travel: re-run from a step, edit a step's output and continue, or retry a
// run. It shows the server's preview (what would execute, what would be reused, about what it
// costs) before anything starts, and starts the new run only when confirmed. A refusal (a step
// that cannot be re-run, an edited output that fails the node's output schema) is shown here,
// and nothing the user typed is lost.

import { useEffect, useMemo, useState } from 'react';
import { ApiError, errorMessage } from '../api/client';
import type { RunSummary } from '../api/resources';
import { timeTravel, type RerunBody, type RerunMode, type RerunPreview, type Verdict, type VersionChoice } from '../api/timeTravel';
import { Modal } from '../components/Modal';
import { Spinner } from '../components/ui';
import { editableText, MODE_TITLE, parseEditedOutput, previewText } from './rerun';
import './timeTravel.css';

/** What the dialog was opened for: a step (re-run from it, or edit its output), or the run. */
export type RerunTarget =
  | { mode: 'from' | 'edit'; step: string; node: string; output: unknown; /** the step's label where its node is not the canvas's (a sub-flow's step) */ label?: string }
  | { mode: 'retry' };

export interface RerunDialogProps {
  runId: string;
  /** null: closed */
  target: RerunTarget | null;
  labelOf: (nodeId: string) => string;
  /** the source run's version and the workflow's newest, to offer the choice when they differ */
  runVersion: number | null;
  currentVersion: number | null;
  onClose: () => void;
  /** what the preview says of each node (null when there is none), to mark the canvas */
  onPlan?: (plan: ReadonlyMap<string, Verdict> | null) => void;
  onStarted: (run: RunSummary) => void;
}

const VERDICT_TEXT: Record<Verdict, string> = { execute: 'runs again', reuse: 'reused', skip: 'skipped' };

/** The server's problems with an edited output (fields.output), as lines. */
function outputProblems(error: ApiError): string[] {
  const value = error.fields.output;
  if (!value) return [];
  return Array.isArray(value) ? value : [value];
}

export function RerunDialog({ runId, target, labelOf, runVersion, currentVersion, onClose, onPlan, onStarted }: RerunDialogProps) {
  const mode: RerunMode | null = target?.mode ?? null;
  const isString = target && target.mode !== 'retry' && typeof target.output === 'string';
  const [version, setVersion] = useState<VersionChoice>('run');
  const [textMode, setTextMode] = useState<'json' | 'text'>('json');
  const [text, setText] = useState('');
  const [preview, setPreview] = useState<RerunPreview | null>(null);
  const [previewing, setPreviewing] = useState(false);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [outputError, setOutputError] = useState<{ message: string; problems: string[] } | null>(null);
  const [starting, setStarting] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);

  // a new target: start over (a string output is edited as text, anything else as JSON)
  const step = target && target.mode !== 'retry' ? target.step : null;
  useEffect(() => {
    if (!target) return;
    const initialMode = target.mode !== 'retry' && typeof target.output === 'string' ? 'text' : 'json';
    setVersion('run');
    setTextMode(initialMode);
    setText(target.mode === 'edit' ? editableText(target.output, initialMode) : '');
    setPreview(null);
    setPreviewError(null);
    setOutputError(null);
    setStartError(null);
    setStarting(false);
    // only when another step or mode is asked for: not on every render's new target object
  }, [runId, target?.mode, step]);

  // the edited output: the text itself in text mode, else the JSON it holds
  const parsed = useMemo(() => {
    if (mode !== 'edit') return null;
    return textMode === 'text' ? ({ ok: true, value: text } as const) : parseEditedOutput(text);
  }, [mode, textMode, text]);

  const body: RerunBody | null = useMemo(() => {
    if (!target) return null;
    if (target.mode === 'retry') return { version };
    if (target.mode === 'from') return { step: target.step, version };
    if (!parsed?.ok) return null;
    return { step: target.step, output: parsed.value, version };
  }, [target, version, parsed]);
  const bodyKey = body ? JSON.stringify(body) : null;

  // the preview of exactly what Start would send; an edit is previewed once typing pauses
  useEffect(() => {
    if (!target || !body) {
      setPreview(null);
      return;
    }
    const abort = new AbortController();
    setPreviewing(true);
    setPreviewError(null);
    const timer = window.setTimeout(
      () => {
        timeTravel.preview(runId, body, abort.signal).then(
          (answer) => {
            setPreview(answer);
            setOutputError(null);
            setPreviewing(false);
          },
          (error) => {
            if (abort.signal.aborted) return;
            setPreview(null);
            setPreviewing(false);
            if (error instanceof ApiError && target.mode === 'edit' && (error.code === 'invalid_output' || error.fields.output)) {
              setOutputError({ message: error.message, problems: outputProblems(error) });
            } else {
              setPreviewError(errorMessage(error));
            }
          },
        );
      },
      target.mode === 'edit' ? 350 : 0,
    );
    return () => {
      window.clearTimeout(timer);
      abort.abort();
    };
    // bodyKey stands for body: a new object with the same content must not preview again
  }, [runId, bodyKey]);

  // the canvas marks what the preview says; nothing once the dialog closes
  useEffect(() => {
    if (!onPlan) return;
    onPlan(target && preview ? new Map(preview.nodes.map((n) => [n.node, n.verdict])) : null);
  }, [onPlan, target, preview]);
  useEffect(() => () => onPlan?.(null), [onPlan]);

  if (!target || !mode) return null;

  const start = async () => {
    if (!body) return;
    setStarting(true);
    setStartError(null);
    try {
      const run = await timeTravel.rerun(runId, body);
      onStarted(run);
    } catch (error) {
      if (error instanceof ApiError && target.mode === 'edit' && (error.code === 'invalid_output' || error.fields.output)) {
        setOutputError({ message: error.message, problems: outputProblems(error) });
      } else {
        setStartError(errorMessage(error));
      }
      setStarting(false);
    }
  };

  const switchTextMode = (next: 'json' | 'text') => {
    if (next === textMode || !parsed) return;
    if (next === 'text') {
      setText(parsed.ok && typeof parsed.value === 'string' ? parsed.value : text);
    } else {
      setText(JSON.stringify(text, null, 2)); // the text typed so far, as a JSON string
    }
    setTextMode(next);
  };

  const clientError = parsed && !parsed.ok ? parsed.message : null;
  const versionsDiffer = runVersion !== null && currentVersion !== null && runVersion !== currentVersion;
  const showVersion = mode === 'retry' || versionsDiffer;
  const stepLabel = target.mode !== 'retry' ? (target.label ?? labelOf(target.node)) : '';
  const title = target.mode === 'retry' ? MODE_TITLE.retry : `${MODE_TITLE[target.mode]}: ${stepLabel}`;
  const canStart = !!body && !!preview && !previewing && !starting && !clientError && !outputError;

  return (
    <Modal
      title={title}
      open
      onClose={onClose}
      testId="rerun-dialog"
      className="modal-side"
      footer={
        <>
          <span className="spacer" />
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="btn btn-primary" data-testid="rerun-confirm" disabled={!canStart} onClick={() => void start()}>
            {starting ? 'Starting…' : target.mode === 'retry' ? 'Retry' : target.mode === 'edit' ? 'Continue with this output' : 'Re-run'}
          </button>
        </>
      }
    >
      <form
        className="rerun-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (canStart) void start();
        }}
      >
        <p className="muted small">
          {target.mode === 'from' && <>A new run: this step and everything after it run again; the steps before it are reused as recorded.</>}
          {target.mode === 'edit' && <>A new run: this step gives the output below instead of running; the steps after it run again.</>}
          {target.mode === 'retry' && <>A new run: every step whose settings and input are unchanged is reused; the rest runs again.</>}
        </p>

        {showVersion && (
          <fieldset className="plain-fieldset rerun-version" data-testid="rerun-version">
            <legend className="field-label">Run on</legend>
            <label className="radio-row">
              <input type="radio" name="rerun-version" value="run" checked={version === 'run'} onChange={() => setVersion('run')} data-testid="rerun-version-run" />
              this run’s version{runVersion !== null ? ` (v${runVersion})` : ''}
            </label>
            <label className="radio-row">
              <input type="radio" name="rerun-version" value="current" checked={version === 'current'} onChange={() => setVersion('current')} data-testid="rerun-version-current" />
              the current version{currentVersion !== null ? ` (v${currentVersion})` : ''}
              {!versionsDiffer && <span className="muted small"> — the same</span>}
            </label>
          </fieldset>
        )}

        {target.mode === 'edit' && (
          <div className={`field${clientError || outputError ? ' field-invalid' : ''}`}>
            <div className="rerun-edit-head">
              <label className="field-label" htmlFor="rerun-output">
                Output of {stepLabel} {textMode === 'json' ? '(JSON)' : '(text)'}
              </label>
              {isString && (
                <div className="segmented segmented-small" role="group" aria-label="Edit as">
                  <button type="button" className={textMode === 'text' ? 'active' : ''} aria-pressed={textMode === 'text'} onClick={() => switchTextMode('text')}>
                    Text
                  </button>
                  <button type="button" className={textMode === 'json' ? 'active' : ''} aria-pressed={textMode === 'json'} onClick={() => switchTextMode('json')}>
                    JSON
                  </button>
                </div>
              )}
            </div>
            <textarea
              id="rerun-output"
              className="input mono"
              rows={12}
              value={text}
              spellCheck={false}
              data-testid="rerun-output"
              aria-invalid={!!(clientError || outputError) || undefined}
              onChange={(e) => {
                setText(e.target.value);
                setOutputError(null);
                setStartError(null);
              }}
            />
            {clientError && (
              <p className="field-error" role="alert" data-testid="rerun-output-error">
                {clientError}
              </p>
            )}
            {outputError && (
              <div className="field-error" role="alert" data-testid="rerun-output-error">
                {outputError.message}
                {outputError.problems.length > 1 && (
                  <ul className="rerun-problems">
                    {outputError.problems.map((problem, i) => (
                      <li key={i}>{problem}</li>
                    ))}
                  </ul>
                )}
              </div>
            )}
          </div>
        )}

        <section className="rerun-preview" aria-live="polite" data-testid="rerun-preview">
          {previewing && (
            <p className="muted small">
              <Spinner small label="Previewing" /> Working out what would run…
            </p>
          )}
          {!previewing && preview && (
            <>
              <p className="rerun-summary" data-testid="rerun-preview-text">
                {previewText(preview)}
              </p>
              <ul className="rerun-plan" data-testid="rerun-plan">
                {preview.nodes.map(({ node, verdict }) => (
                  <li key={node} className={`plan-${verdict}`} data-testid={`rerun-plan-${node}`} data-verdict={verdict}>
                    <span className="plan-dot" aria-hidden="true" />
                    <span className="plan-name">{labelOf(node)}</span>
                    <span className="plan-verdict">{VERDICT_TEXT[verdict]}</span>
                  </li>
                ))}
              </ul>
              {preview.version !== runVersion && runVersion !== null && <p className="muted small">Runs on version {preview.version}.</p>}
            </>
          )}
          {!previewing && previewError && (
            <p className="banner banner-error" role="alert" data-testid="rerun-error">
              {previewError}
            </p>
          )}
        </section>
        {startError && (
          <p className="banner banner-error" role="alert" data-testid="rerun-error">
            {startError}
          </p>
        )}
        <button type="submit" hidden />
      </form>
    </Modal>
  );
}
