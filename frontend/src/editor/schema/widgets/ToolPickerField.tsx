// A worker's tools: picked from what its workspace offers (api/tools.ts's catalogue): the
// built-ins, each MCP server's tools (or all of a server's), the HTTP tools and the other
// workflows. The setting holds references (calculator, mcp:<server>/<tool>, http:<name>,
// workflow:<id>); one that names something gone is shown so it can be removed.

import { useCallback } from 'react';
import { toolCatalogue, type ToolCatalogue } from '../../../api/tools';
import { domId, type WidgetProps } from '../formContext';
import { useWorkspaceChoices } from '../workspaceChoices';

type Loaded = { catalogue: ToolCatalogue; current: string };

async function loadCatalogue(workspaceId: number, workflowId: string, show: (found: Loaded) => void): Promise<void> {
  show({ catalogue: await toolCatalogue(workspaceId), current: workflowId });
}

interface Option {
  ref: string;
  label: string;
  title?: string;
  problem?: string | null;
}

interface Group {
  key: string;
  label: string;
  note?: string;
  options: Option[];
}

function groupsOf(catalogue: ToolCatalogue, current: string): Group[] {
  const groups: Group[] = [
    { key: 'builtin', label: 'Built-in', options: catalogue.builtin.map((t) => ({ ref: t.ref, label: t.name, title: t.description })) },
  ];
  for (const server of catalogue.mcp_servers) {
    const options: Option[] = [{ ref: `mcp:${server.name}/*`, label: 'all its tools' }];
    for (const tool of server.tools) options.push({ ref: tool.ref, label: tool.name, title: tool.description, problem: tool.problem });
    const note =
      server.tools_error ||
      (server.source === 'operator' && !server.tools.length ? 'the operator’s local server: its tools are listed when the step runs' : undefined);
    groups.push({ key: `mcp:${server.name}`, label: `MCP · ${server.name}`, note, options });
  }
  if (catalogue.http_tools.length) {
    groups.push({ key: 'http', label: 'HTTP tools', options: catalogue.http_tools.map((t) => ({ ref: t.ref, label: t.name, title: t.description })) });
  }
  const flows = catalogue.workflows.filter((w) => w.workflow !== current);
  if (flows.length) groups.push({ key: 'workflows', label: 'Workflows', options: flows.map((w) => ({ ref: w.ref, label: w.name })) });
  return groups;
}

export function ToolPickerField({ ctx, field, value, fieldPath, onSet }: WidgetProps) {
  const load = useCallback(loadCatalogue, []);
  const choices = useWorkspaceChoices<Loaded>(true, 'tools', load);
  const chosen = Array.isArray(value) ? (value as string[]) : [];
  const error = ctx.errors[fieldPath];
  const id = domId(ctx, fieldPath);
  const toggle = (ref: string, on: boolean) => onSet(on ? chosen.filter((c) => c !== ref) : [...chosen, ref]);
  const groups = choices.status === 'ready' ? groupsOf(choices.catalogue, choices.current) : [];
  const known = new Set(groups.flatMap((g) => g.options.map((o) => o.ref)));
  const missing = choices.status === 'ready' ? chosen.filter((ref) => !known.has(ref)) : [];
  return (
    <fieldset className={`field field-tools${error ? ' field-invalid' : ''}`} data-testid={`field-${fieldPath}`}>
      <legend className="field-label">{field.title}</legend>
      {choices.status === 'loading' && <p className="muted">Loading the workspace’s tools…</p>}
      {choices.status === 'error' && <p className="field-error">{choices.message}</p>}
      {groups.map((group) => (
        <div key={group.key} className="tool-group" data-testid={`tool-group-${group.key}`}>
          <div className="tool-group-label">{group.label}</div>
          {group.note && <p className="field-help">{group.note}</p>}
          <div className="choices">
            {group.options.map((option) => {
              const on = chosen.includes(option.ref);
              return (
                <label key={option.ref} className={`choice${on ? ' on' : ''}${option.problem ? ' choice-problem' : ''}`} title={option.problem ?? option.title} htmlFor={`${id}-${option.ref}`}>
                  <input
                    id={`${id}-${option.ref}`}
                    type="checkbox"
                    className="nodrag"
                    checked={on}
                    data-testid={`tool-${option.ref}`}
                    onChange={() => toggle(option.ref, on)}
                  />
                  {option.label}
                  {option.problem && <span className="badge-warn"> unusable</span>}
                </label>
              );
            })}
          </div>
        </div>
      ))}
      {missing.length > 0 && (
        <div className="tool-group tool-missing" data-testid="tool-missing">
          <div className="tool-group-label">Not in this workspace any more</div>
          {missing.map((ref) => (
            <div key={ref} className="choice">
              <code>{ref}</code>
              <button type="button" className="btn btn-small nodrag" onClick={() => toggle(ref, true)}>
                Remove
              </button>
            </div>
          ))}
        </div>
      )}
      {error && (
        <p className="field-error" data-testid={`field-error-${fieldPath}`} role="alert">
          {error}
        </p>
      )}
      {field.description && <p className="field-help">{field.description}</p>}
    </fieldset>
  );
}
