// A credential's Test, under its row: pick a model (the catalogue's models of the credential's
// provider are suggested), and the server answers whether the key works and what it can do for
// that model (structured output, streamed usage, tools) or what went wrong and what to do.

import { useEffect, useId, useState, type FormEvent } from 'react';
import { errorMessage } from '../api/client';
import { testCredential, type Credential, type CredentialTestResult, type TestProblem } from '../api/credentials';
import { listModels, type ModelEntry } from '../api/models';
import { Spinner } from '../components/ui';

const SOURCE: Record<string, string> = {
  detected: 'found out now',
  catalogue: 'set in the model catalogue',
  provider: "the server's setting",
  default: 'assumed',
};

const MODES: Record<string, string> = {
  json_schema: 'JSON schema (response_format json_schema)',
  json_object: 'JSON object with the schema (response_format json_object)',
  instructions: 'by instructions in the prompt, validated and repaired',
  reported: 'reported by the server',
  counted: 'counted from the text (the server reports none)',
  native: 'native tool calls',
  prompted: 'prompted (tools described in the prompt, called by JSON)',
};

export const PROBLEM_TITLES: Record<TestProblem, string> = {
  unreachable: 'Server unreachable',
  outbound_refused: 'Address not allowed',
  invalid_base_url: 'Base URL unusable',
  auth: 'Key refused',
  model_unknown: 'Model unknown',
  not_found: 'Nothing at that base URL',
  capability_refused: 'Setting refused by the server',
  rate_limited: 'Rate limited',
  timeout: 'No answer in time',
  server_error: 'Server error',
  bad_request: 'Request refused',
  bad_answer: 'Unexpected answer',
};

const ROWS: { name: 'structured_output' | 'stream_usage' | 'tools'; label: string }[] = [
  { name: 'structured_output', label: 'Structured output' },
  { name: 'stream_usage', label: 'Streamed usage' },
  { name: 'tools', label: 'Tools' },
];

/** The catalogue's models of the credential's provider; the noted ones (the local model) first. */
export function modelsFor(kind: string, models: ModelEntry[]): ModelEntry[] {
  const own = models.filter((entry) => entry.model.startsWith(`${kind}/`));
  return [...own.filter((entry) => entry.note), ...own.filter((entry) => !entry.note)];
}

export function CredentialTest({ workspaceId, credential, onClose }: { workspaceId: number; credential: Credential; onClose: () => void }) {
  const [models, setModels] = useState<ModelEntry[]>([]);
  const [model, setModel] = useState('');
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<CredentialTestResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const name = credential.name;

  useEffect(() => {
    const controller = new AbortController();
    listModels({ workspace: String(workspaceId), signal: controller.signal })
      .then((all) => {
        const offered = modelsFor(credential.kind, all);
        setModels(offered);
        // the local tiny model, when this installation serves it: the one a fresh install can try
        setModel((current) => current || offered.find((entry) => entry.note)?.model || '');
      })
      .catch(() => undefined); // suggestions only: the field still takes any model
    return () => controller.abort();
  }, [workspaceId, credential.kind]);

  const run = async (event: FormEvent) => {
    event.preventDefault();
    if (!model.trim()) {
      setError(`Name a model, e.g. ${credential.kind === 'anthropic' ? 'anthropic/claude-3-5-haiku-latest' : 'openai/gpt-4o-mini'}.`);
      return;
    }
    setRunning(true);
    setError(null);
    setResult(null);
    try {
      setResult(await testCredential(workspaceId, name, model.trim()));
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setRunning(false);
    }
  };

  return (
    <form className="models-add credential-test" onSubmit={(e) => void run(e)} noValidate data-testid={`credential-test-form-${name}`}>
      <div className="field">
        <label htmlFor={`${id}-model`}>Model to ask through {name}</label>
        <input
          id={`${id}-model`}
          className="input"
          value={model}
          list={`${id}-models`}
          placeholder={`${credential.kind}/…`}
          autoComplete="off"
          spellCheck={false}
          aria-invalid={error ? true : undefined}
          data-testid="credential-test-model"
          onChange={(e) => setModel(e.target.value)}
        />
        <datalist id={`${id}-models`}>
          {models.map((entry) => (
            <option key={entry.model} value={entry.model} label={entry.note || undefined} />
          ))}
        </datalist>
        <p className="field-help muted">A few tiny calls (a few tokens each) to the credential's server find out whether the key works and what the server can do.</p>
      </div>
      {error && (
        <div className="field-error" role="alert" data-testid="credential-test-error">
          {error}
        </div>
      )}
      {result && <TestResult result={result} />}
      <div className="page-actions">
        <button type="submit" className="btn btn-primary btn-small" disabled={running} data-testid="credential-test-run">
          {running ? <Spinner small label="Testing" /> : 'Run test'}
        </button>
        <button type="button" className="btn btn-secondary btn-small" onClick={onClose}>
          Close
        </button>
      </div>
    </form>
  );
}

function TestResult({ result }: { result: CredentialTestResult }) {
  if (!result.ok) {
    return (
      <div className="credential-test-result failed" role="alert" data-testid="credential-test-result" data-ok="false" data-problem={result.problem ?? ''}>
        <strong>{result.problem ? PROBLEM_TITLES[result.problem] : 'Failed'}</strong>
        <p data-testid="credential-test-message">{result.message}</p>
      </div>
    );
  }
  const caps = result.capabilities;
  return (
    <div className="credential-test-result ok" role="status" data-testid="credential-test-result" data-ok="true">
      <strong>Works</strong>
      <p data-testid="credential-test-message">{result.message}</p>
      {caps && (
        <dl data-testid="credential-test-capabilities">
          {ROWS.map(({ name, label }) => (
            <div key={name} style={{ display: 'contents' }} data-testid={`credential-test-${name}`} data-value={caps[name]}>
              <dt>{label}</dt>
              <dd>
                {MODES[caps[name]] ?? caps[name]} <span className="muted">({SOURCE[caps[`${name}_source`]] ?? caps[`${name}_source`]})</span>
              </dd>
            </div>
          ))}
        </dl>
      )}
      {result.warnings.map((warning) => (
        <p key={warning} className="field-error" data-testid="credential-test-warning">
          {warning}
        </p>
      ))}
      {caps && <p className="muted">Runs use what the server showed; to pin a mode, set it on {result.model} in Models.</p>}
    </div>
  );
}
