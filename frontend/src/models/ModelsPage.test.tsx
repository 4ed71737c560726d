import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ModelEntry } from '../api/models';
import { cachedModels } from '../api/models';
import { ToastProvider } from '../components/toast';
import { ModelsPage } from './ModelsPage';

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

let models: ModelEntry[] = [];
let failList = false;
const posts: { url: string; body: unknown }[] = [];

const fetchMock = vi.fn(async (input: string | URL | Request, init?: RequestInit) => {
  const url = String(input);
  if (url === '/api/models/' && (!init?.method || init.method === 'GET')) {
    if (failList) return json({ error: { code: 'server_error', message: 'The database is down.' } }, 500);
    return json(models);
  }
  const body = JSON.parse(String(init?.body ?? 'null'));
  posts.push({ url, body });
  if (url === '/api/models/') {
    if (!String(body.model).includes('/')) {
      return json({ error: { code: 'invalid', message: 'Invalid model.', fields: { model: ['Must look like provider/name.'] } } }, 400);
    }
    if (body.input_price > 1000) {
      return json({ error: { code: 'invalid', message: 'Invalid model.', fields: { input_price: ['Too expensive.'] } } }, 400);
    }
    if (body.tools === 'native' && body.model === 'acme/big') {
      const message = 'must be one of auto, native, prompted (auto, or empty: detected)';
      return json({ error: { code: 'invalid', message: 'Invalid model.', fields: { tools: [`${message} (scripted refusal)`] } } }, 400);
    }
    const builtin = models.find((m) => m.model === body.model)?.builtin ?? false;
    models = [...models.filter((m) => m.model !== body.model), { ...body, context: body.context ?? null, source: 'workspace', builtin }];
    return json(models);
  }
  if (url === '/api/models/reset/') {
    models = models.map((m) => (m.model === body.model ? { ...m, source: 'builtin', input_price: 0.15 } : m));
    return json(models);
  }
  return json({ error: { code: 'not_found', message: 'Not found.' } }, 404);
});

beforeEach(() => {
  models = [
    { model: 'openai/gpt-4o-mini', input_price: 0.15, output_price: 0.6, context: 128000, source: 'builtin', builtin: true },
    { model: 'openai/gpt-4o', input_price: 3, output_price: 10, context: 128000, source: 'workspace', builtin: true },
    { model: 'acme/big', input_price: 1, output_price: 2, context: null, source: 'workspace', builtin: false },
  ];
  failList = false;
  posts.length = 0;
  vi.stubGlobal('fetch', fetchMock);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

const renderPage = () =>
  render(
    <ToastProvider>
      <ModelsPage />
    </ToastProvider>,
  );

describe('ModelsPage', () => {
  it('lists the catalogue with source badges; reset only for workspace entries', async () => {
    renderPage();
    expect(screen.getByTestId('models-page')).toBeTruthy();
    await screen.findByTestId('model-row-openai/gpt-4o-mini');
    expect(screen.getByTestId('model-source-openai/gpt-4o-mini').textContent).toBe('built-in');
    expect(screen.getByTestId('model-source-openai/gpt-4o').textContent).toBe('overridden');
    expect(screen.getByTestId('model-source-acme/big').textContent).toBe('custom');
    expect(screen.queryByTestId('model-reset-openai/gpt-4o-mini')).toBeNull();
    expect(screen.getByTestId('model-reset-openai/gpt-4o')).toBeTruthy();
    expect(screen.getByTestId('model-reset-acme/big')).toBeTruthy();
    expect(cachedModels()?.length).toBe(3);
  });

  it('saves an edited row and shows server field errors under the field', async () => {
    renderPage();
    await screen.findByTestId('model-row-openai/gpt-4o-mini');
    const save = screen.getByTestId('model-save-openai/gpt-4o-mini') as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('model-input_price-openai/gpt-4o-mini'), { target: { value: '5000' } });
    expect(save.disabled).toBe(false);
    fireEvent.click(save);
    const row = screen.getByTestId('model-row-openai/gpt-4o-mini');
    await waitFor(() => expect(within(row).getByTestId('field-error-input_price').textContent).toBe('Too expensive.'));
    fireEvent.change(screen.getByTestId('model-input_price-openai/gpt-4o-mini'), { target: { value: '0.2' } });
    expect(within(row).queryByTestId('field-error-input_price')).toBeNull();
    fireEvent.click(screen.getByTestId('model-save-openai/gpt-4o-mini'));
    await waitFor(() => expect(screen.getByTestId('model-source-openai/gpt-4o-mini').textContent).toBe('overridden'));
    expect(posts.at(-1)).toEqual({
      url: '/api/models/',
      body: { model: 'openai/gpt-4o-mini', input_price: 0.2, output_price: 0.6, context: 128000, structured_output: '', stream_usage: '', tools: '' },
    });
    expect((screen.getByTestId('model-save-openai/gpt-4o-mini') as HTMLButtonElement).disabled).toBe(true);
  });

  it("sets a model's server capabilities per row, shows a refused setting under its select, and shows a note", async () => {
    models = [...models, { model: 'openai/gemma-3-270m', input_price: 0, output_price: 0, context: 8192, source: 'builtin', builtin: true, structured_output: 'json_object', stream_usage: 'counted', tools: 'prompted', note: 'a tiny model for trying flows (needs 2 GB)' }];
    renderPage();
    await screen.findByTestId('model-row-openai/gemma-3-270m');
    expect(screen.getByTestId('model-note-openai/gemma-3-270m').textContent).toContain('tiny model for trying flows');
    expect((screen.getByTestId('model-tools-openai/gemma-3-270m') as HTMLSelectElement).value).toBe('prompted');
    expect((screen.getByTestId('model-structured_output-openai/gpt-4o-mini') as HTMLSelectElement).value).toBe(''); // auto

    const save = screen.getByTestId('model-save-acme/big') as HTMLButtonElement;
    fireEvent.change(screen.getByLabelText('Structured output for acme/big'), { target: { value: 'instructions' } });
    expect(save.disabled).toBe(false);
    fireEvent.click(save);
    await waitFor(() => expect((screen.getByTestId('model-structured_output-acme/big') as HTMLSelectElement).value).toBe('instructions'));
    expect(posts.at(-1)?.body).toMatchObject({ model: 'acme/big', structured_output: 'instructions', stream_usage: '', tools: '' });
    await waitFor(() => expect((screen.getByTestId('model-save-acme/big') as HTMLButtonElement).disabled).toBe(true));

    fireEvent.change(screen.getByTestId('model-tools-acme/big'), { target: { value: 'native' } });
    fireEvent.click(screen.getByTestId('model-save-acme/big'));
    const row = screen.getByTestId('model-row-acme/big');
    await waitFor(() => expect(within(row).getByTestId('field-error-tools').textContent).toContain('must be one of auto, native, prompted'));
  });

  it('resets an overridden row', async () => {
    renderPage();
    fireEvent.click(await screen.findByTestId('model-reset-openai/gpt-4o'));
    await waitFor(() => expect(screen.getByTestId('model-source-openai/gpt-4o').textContent).toBe('built-in'));
    expect(posts).toEqual([{ url: '/api/models/reset/', body: { model: 'openai/gpt-4o' } }]);
  });

  it('adds a model; client and server errors appear under the fields', async () => {
    renderPage();
    await screen.findByTestId('model-row-acme/big');
    fireEvent.click(screen.getByTestId('model-add'));
    fireEvent.click(screen.getByTestId('model-add-submit'));
    const form = screen.getByTestId('model-add-form');
    expect(within(form).getByTestId('field-error-model')).toBeTruthy();
    expect(within(form).getByTestId('field-error-input_price')).toBeTruthy();
    expect(posts).toEqual([]);
    fireEvent.change(screen.getByTestId('model-add-model'), { target: { value: 'acme/small' } });
    fireEvent.change(screen.getByTestId('model-add-input_price'), { target: { value: '0.1' } });
    fireEvent.change(screen.getByTestId('model-add-output_price'), { target: { value: '0.2' } });
    fireEvent.change(screen.getByTestId('model-add-context'), { target: { value: '32000' } });
    fireEvent.click(screen.getByTestId('model-add-submit'));
    await screen.findByTestId('model-row-acme/small');
    expect(screen.getByTestId('model-source-acme/small').textContent).toBe('custom');
    expect(screen.queryByTestId('model-add-form')).toBeNull();
  });

  it('shows the error state and the empty state', async () => {
    failList = true;
    const { unmount } = renderPage();
    await screen.findByTestId('models-error');
    expect(screen.getByText('The database is down.')).toBeTruthy();
    unmount();
    failList = false;
    models = [];
    renderPage();
    await screen.findByTestId('models-empty');
  });
});
