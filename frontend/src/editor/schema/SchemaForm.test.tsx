import { fireEvent, render, screen } from '@testing-library/react';
import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import type { Issue } from '../../api/graph';
import { spec } from '../../test/fixtures';
import { formErrors } from '../SettingsPanel';
import { SchemaForm } from './SchemaForm';

/** The form as the settings panel uses it: validated on every change. */
function Harness({ type, initial, issues = [], onChange }: { type: string; initial: Record<string, unknown>; issues?: Issue[]; onChange?: (v: Record<string, unknown>, path: string) => void }) {
  const [value, setValue] = useState(initial);
  const nodeSpec = spec(type);
  return (
    <SchemaForm
      schema={nodeSpec.config_schema}
      value={value}
      errors={formErrors(nodeSpec, value, issues)}
      onChange={(next, path) => {
        setValue(next);
        onChange?.(next, path);
      }}
    />
  );
}

describe('SchemaForm', () => {
  it('shows a message under a field as soon as what is typed is out of range, and clears it when fixed', () => {
    render(<Harness type="worker" initial={{ model: 'local/echo' }} />);
    const temperature = screen.getByTestId('field-temperature');
    fireEvent.change(temperature, { target: { value: '3' } });
    expect(screen.getByTestId('field-error-temperature').textContent).toBe('Must be at most 2');
    expect(temperature.getAttribute('aria-invalid')).toBe('true');
    fireEvent.change(temperature, { target: { value: '0.4' } });
    expect(screen.queryByTestId('field-error-temperature')).toBeNull();
  });

  it('says so when a number field holds something that is not a number', () => {
    const changes = vi.fn();
    render(<Harness type="worker" initial={{}} onChange={changes} />);
    fireEvent.change(screen.getByTestId('field-max_tokens'), { target: { value: '12x' } });
    expect(screen.getByTestId('field-error-max_tokens').textContent).toBe('Enter a number');
    expect(changes).not.toHaveBeenCalled();
    fireEvent.change(screen.getByTestId('field-max_tokens'), { target: { value: '2.5' } });
    expect(screen.getByTestId('field-error-max_tokens').textContent).toBe('Enter a whole number');
    fireEvent.change(screen.getByTestId('field-max_tokens'), { target: { value: '256' } });
    expect(changes).toHaveBeenLastCalledWith({ max_tokens: 256 }, 'max_tokens');
    // emptying a nullable number sets it back to null (the default)
    fireEvent.change(screen.getByTestId('field-max_tokens'), { target: { value: '' } });
    expect(changes).toHaveBeenLastCalledWith({ max_tokens: null }, 'max_tokens');
  });

  it('renders templates as text areas, the model as a text field with suggestions, switches as switches', () => {
    render(<Harness type="worker" initial={{ model: 'local/echo', instructions: 'Do {{ upstream }}', stream: true }} />);
    expect(screen.getByTestId('field-instructions').tagName).toBe('TEXTAREA');
    const model = screen.getByTestId('field-model') as HTMLInputElement;
    expect(model.getAttribute('list')).toBeTruthy();
    const options = Array.from(document.querySelectorAll(`datalist#${model.getAttribute('list')} option`)).map((o) => o.getAttribute('value'));
    expect(options).toContain('openai/gpt-4o-mini');
    const stream = screen.getByTestId('field-stream') as HTMLInputElement;
    expect(stream.getAttribute('role')).toBe('switch');
    expect(stream.checked).toBe(true);
  });

  it('offers the tiers first and the catalogue models with their prices', () => {
    const nodeSpec = spec('worker');
    render(
      <SchemaForm
        schema={nodeSpec.config_schema}
        value={{ model: 'fast' }}
        models={[{ model: 'acme/big', input_price: 1, output_price: 2, context: null, source: 'workspace', builtin: false }]}
        onChange={() => undefined}
      />,
    );
    const model = screen.getByTestId('field-model') as HTMLInputElement;
    const options = Array.from(document.querySelectorAll(`datalist#${model.getAttribute('list')} option`));
    expect(options.slice(0, 2).map((o) => o.getAttribute('value'))).toEqual(['fast', 'strong']);
    const big = options.find((o) => o.getAttribute('value') === 'acme/big');
    expect(big?.getAttribute('label')).toBe('$1.00 in / $2.00 out per M tokens');
    expect(options.map((o) => o.getAttribute('value'))).toContain('openai/gpt-4o-mini');
  });

  it("shows the catalogue's note on the picked model (the local tiny model: what it is for, what it needs)", () => {
    const nodeSpec = spec('worker');
    const note = 'Gemma 3 270M on this machine: a tiny model for trying flows, not for real work (needs about 2 GB)';
    const models = [
      { model: 'openai/gemma-3-270m', input_price: 0, output_price: 0, context: 8192, source: 'builtin' as const, builtin: true, note },
      { model: 'acme/big', input_price: 1, output_price: 2, context: null, source: 'workspace' as const, builtin: false, note: '' },
    ];
    function Picker() {
      const [value, setValue] = useState<Record<string, unknown>>({ model: 'acme/big' });
      return <SchemaForm schema={nodeSpec.config_schema} value={value} models={models} onChange={(next) => setValue(next)} />;
    }
    render(<Picker />);
    const model = screen.getByTestId('field-model') as HTMLInputElement;
    expect(screen.queryByTestId('field-model-note')).toBeNull();
    const offered = Array.from(document.querySelectorAll(`datalist#${model.getAttribute('list')} option`)).find((o) => o.getAttribute('value') === 'openai/gemma-3-270m');
    expect(offered?.getAttribute('label')).toBe(`$0.00 in / $0.00 out per M tokens · ${note}`);

    fireEvent.change(model, { target: { value: 'openai/gemma-3-270m' } });
    expect(screen.getByTestId('field-model-note').textContent).toBe(note);
    fireEvent.change(model, { target: { value: 'fast' } });
    expect(screen.queryByTestId('field-model-note')).toBeNull();
  });

  it('edits the retry policy inside a collapsible group, validating nested fields', () => {
    render(<Harness type="worker" initial={{}} />);
    const group = screen.getByText('Retry').closest('details')!;
    expect(group).toBeTruthy();
    fireEvent.change(screen.getByTestId('field-retry.max_attempts'), { target: { value: '50' } });
    expect(screen.getByTestId('field-error-retry.max_attempts').textContent).toBe('Must be at most 20');
  });

  it('adds, edits and removes router routes, with per-item messages', () => {
    const changes = vi.fn();
    render(<Harness type="router" initial={{ routes: [], default: 'default' }} onChange={changes} />);
    expect(screen.getByTestId('field-error-routes').textContent).toBe('Add at least 1 item');
    fireEvent.click(screen.getByTestId('add-routes'));
    expect(changes).toHaveBeenLastCalledWith({ routes: [{ name: 'route_1', when: '' }], default: 'default' }, 'routes');
    expect(screen.getByTestId('field-error-routes[0].when').textContent).toBe('Must not be empty');
    fireEvent.change(screen.getByTestId('field-routes[0].when'), { target: { value: 'upstream.score > 3' } });
    fireEvent.change(screen.getByTestId('field-routes[0].name'), { target: { value: '9lives' } });
    expect(screen.getByTestId('field-error-routes[0].name').textContent).toContain('starting with a letter');
    fireEvent.change(screen.getByTestId('field-routes[0].name'), { target: { value: 'high' } });
    expect(changes).toHaveBeenLastCalledWith({ routes: [{ name: 'high', when: 'upstream.score > 3' }], default: 'default' }, 'routes[0].name');
    expect(document.querySelectorAll('.field-error')).toHaveLength(0);
    fireEvent.click(screen.getByLabelText('Remove Route 1'));
    expect(changes).toHaveBeenLastCalledWith({ routes: [], default: 'default' }, 'routes');
  });

  it('shows the server’s message for a field the client finds nothing wrong with', () => {
    const issues: Issue[] = [{ code: 'template_reference', message: "template names node 'ghost', which does not exist", node_id: 'n', field: 'config.template' }];
    render(<Harness type="transform" initial={{ template: '{{ nodes.ghost.output }}' }} issues={issues} />);
    expect(screen.getByTestId('field-error-template').textContent).toContain('ghost');
  });

  it('parses JSON fields and says why text is not valid JSON', () => {
    const changes = vi.fn();
    render(<Harness type="input" initial={{}} onChange={changes} />);
    const fields = screen.getByTestId('field-fields');
    fireEvent.change(fields, { target: { value: '{"type": "object",' } });
    expect(screen.getByTestId('field-error-fields').textContent).toMatch(/^Not valid JSON/);
    expect(changes).not.toHaveBeenCalled();
    fireEvent.change(fields, { target: { value: '[1]' } });
    expect(screen.getByTestId('field-error-fields').textContent).toContain('JSON Schema is an object');
    fireEvent.change(fields, { target: { value: '{"type": "object", "properties": {"topic": {"type": "string"}}}' } });
    expect(screen.queryByTestId('field-error-fields')).toBeNull();
    expect(changes).toHaveBeenLastCalledWith({ fields: { type: 'object', properties: { topic: { type: 'string' } } } }, 'fields');
  });

  it('offers selects for enums', () => {
    const changes = vi.fn();
    render(<Harness type="approval" initial={{}} onChange={changes} />);
    const select = screen.getByTestId('field-on_deadline') as HTMLSelectElement;
    expect(Array.from(select.options).map((o) => o.value)).toEqual(['', 'reject', 'approve', 'escalate']);
    fireEvent.change(select, { target: { value: 'approve' } });
    expect(changes).toHaveBeenLastCalledWith({ on_deadline: 'approve' }, 'on_deadline');
  });
});

describe('SchemaForm: choices', () => {
  it("renders a worker's tools as the workspace's tool picker", () => {
    render(<Harness type="worker" initial={{ tools: ['calculator'] }} onChange={vi.fn()} />);
    // The picker lists what the edited workflow's workspace offers (ToolPickerField.test.tsx).
    expect(screen.getByTestId('field-tools')).toBeTruthy();
  });
});
