// The one way the app talks to the backend: same origin, Django session cookie, CSRF header on
// unsafe methods, and every failure turned into an ApiError with the server's error shape
// {"error": {"code", "message", "fields"?}}.

export interface ErrorBody {
  code: string;
  message: string;
  fields?: Record<string, string[] | string>;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string[] | string>;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code;
    this.fields = body.fields ?? {};
  }

  /** True when the session is gone and the user has to sign in again. */
  get needsLogin(): boolean {
    return this.status === 401 || (this.status === 403 && this.code === 'not_authenticated');
  }

  /** The messages for one field, joined. */
  fieldMessage(name: string): string | undefined {
    const value = this.fields[name];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.join(' ') : value;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function readCookie(name: string, cookies: string = document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return null;
}

export function csrfToken(): string | null {
  return (
    readCookie('csrftoken') ??
    document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ??
    null
  );
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  query?: Record<string, string | number | undefined | null>;
}

function withQuery(path: string, query: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

async function errorFrom(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: a proxy page or a crash; fall through to a generic message
  }
  const error = (body as { error?: Partial<ErrorBody> } | null)?.error;
  if (error && typeof error.message === 'string') {
    return new ApiError(response.status, {
      code: error.code ?? 'error',
      message: error.message,
      fields: error.fields,
    });
  }
  const generic: Record<number, string> = {
    401: 'You are signed out.',
    403: 'You do not have access to this.',
    404: 'Not found.',
    413: 'That is too large.',
    429: 'Too many requests; try again in a moment.',
  };
  return new ApiError(response.status, {
    code: response.status === 401 ? 'not_authenticated' : `http_${response.status}`,
    message: generic[response.status] ?? `The server answered ${response.status} ${response.statusText}.`,
  });
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = options.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) headers['X-CSRFToken'] = token;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause;
    throw new ApiError(0, { code: 'network', message: 'Cannot reach the server. Check your connection.' });
  }
  if (!response.ok) throw await errorFrom(response);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The server's field errors keyed as a form shows them; anything else goes to the form. */
export function fieldErrors<K extends string>(error: unknown, fields: K[]): Partial<Record<K | 'form', string>> {
  if (!(error instanceof ApiError)) return { form: errorMessage(error) } as Partial<Record<K | 'form', string>>;
  const found: Partial<Record<K | 'form', string>> = {};
  for (const field of fields) {
    const message = error.fieldMessage(field);
    if (message) found[field] = message;
  }
  if (Object.keys(found).length === 0) found.form = error.message;
  return found;
}
