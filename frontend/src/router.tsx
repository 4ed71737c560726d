// A small router over the history API: a few routes, links, and a guard that asks before
// leaving a page with unsaved changes (in-app navigation, back/forward and closing the tab).

import { useEffect, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export type Route =
  | { name: 'list' }
  | { name: 'editor'; id: string }
  | { name: 'run'; id: string; runId: string }
  // two runs side by side (?a=<run>&b=<run>); `workflow`, not `id`: leaving the editor for it asks first
  | { name: 'run-compare'; workflow: string }
  | { name: 'approvals'; approvalId: string | null }
  | { name: 'settings'; section: string }
  | { name: 'knowledge'; baseId: string | null }
  // every run of every workflow of my workspaces, with filters
  | { name: 'runs' }
  | { name: 'not-found'; path: string };

/** Where Django mounts the app ('' for the site root); set with <meta name="app-base" content="/app">. */
export function appBase(): string {
  const meta = typeof document !== 'undefined' ? document.querySelector<HTMLMetaElement>('meta[name="app-base"]') : null;
  return (meta?.content ?? '').replace(/\/+$/, '');
}

export function matchRoute(pathname: string, base = appBase()): Route {
  let path = pathname;
  if (base && path.startsWith(base)) path = path.slice(base.length) || '/';
  path = path.replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/workflows') return { name: 'list' };
  if (path === '/approvals') return { name: 'approvals', approvalId: null };
  if (path === '/runs') return { name: 'runs' };
  if (path === '/settings') return { name: 'settings', section: 'models' };
  if (path === '/knowledge') return { name: 'knowledge', baseId: null };
  const k = /^\/knowledge\/([^/]+)$/.exec(path);
  if (k) return { name: 'knowledge', baseId: decodeURIComponent(k[1]) };
  const s = /^\/settings\/([a-z-]+)$/.exec(path);
  if (s) return { name: 'settings', section: s[1] };
  const a = /^\/approvals\/([^/]+)$/.exec(path);
  if (a) return { name: 'approvals', approvalId: decodeURIComponent(a[1]) };
  let m = /^\/workflows\/([^/]+)$/.exec(path);
  if (m) return { name: 'editor', id: decodeURIComponent(m[1]) };
  m = /^\/workflows\/([^/]+)\/compare$/.exec(path);
  if (m) return { name: 'run-compare', workflow: decodeURIComponent(m[1]) };
  m = /^\/workflows\/([^/]+)\/runs\/([^/]+)$/.exec(path);
  if (m) return { name: 'run', id: decodeURIComponent(m[1]), runId: decodeURIComponent(m[2]) };
  return { name: 'not-found', path };
}

/** Django's login page, coming back here afterwards (<meta name="login-url"> may move it). */
export function loginUrl(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="login-url"]');
  return `${meta?.content || '/login/'}?next=${encodeURIComponent(window.location.pathname + window.location.search)}`;
}

export const paths = {
  list: () => `${appBase()}/`,
  editor: (id: string) => `${appBase()}/workflows/${encodeURIComponent(id)}`,
  run: (id: string, runId: string) => `${appBase()}/workflows/${encodeURIComponent(id)}/runs/${encodeURIComponent(runId)}`,
  compareRuns: (id: string, a: string, b: string) =>
    `${appBase()}/workflows/${encodeURIComponent(id)}/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`,
  approvals: () => `${appBase()}/approvals`,
  runs: (query?: string) => `${appBase()}/runs${query ? `?${query}` : ''}`,
  approval: (id: string) => `${appBase()}/approvals/${encodeURIComponent(id)}`,
  models: () => `${appBase()}/settings/models`,
  settings: (section: string) => `${appBase()}/settings/${section}`,
  knowledge: (baseId?: string) => `${appBase()}/knowledge${baseId ? `/${encodeURIComponent(baseId)}` : ''}`,
};

const CHANGE = 'app:navigate';
type Blocker = () => string | null;
const blockers = new Set<Blocker>();

function subscribe(callback: () => void): () => void {
  window.addEventListener(CHANGE, callback);
  window.addEventListener('popstate', callback);
  return () => {
    window.removeEventListener(CHANGE, callback);
    window.removeEventListener('popstate', callback);
  };
}

function currentPath(): string {
  return window.location.pathname;
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, currentPath, () => '/');
}

/** The query string (with its '?'), re-read on every in-app navigation. */
export function useSearch(): string {
  return useSyncExternalStore(subscribe, () => window.location.search, () => '');
}

export function useRoute(): Route {
  return matchRoute(usePath());
}

/** Ask every guard; true when the user agrees to leave (or nothing is at stake). */
export function confirmLeave(): boolean {
  for (const blocker of blockers) {
    const message = blocker();
    if (message && !window.confirm(message)) return false;
  }
  return true;
}

export function navigate(to: string, options: { replace?: boolean; force?: boolean } = {}): boolean {
  if (to === window.location.pathname + window.location.search) return true;
  // paths that only add a run to the same workflow are not "leaving"
  if (!options.force && !sameWorkflow(window.location.pathname, to) && !confirmLeave()) return false;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event(CHANGE));
  window.scrollTo?.(0, 0);
  return true;
}

function sameWorkflow(from: string, to: string): boolean {
  const a = matchRoute(from);
  const b = matchRoute(new URL(to, window.location.origin).pathname);
  return 'id' in a && 'id' in b && a.id === b.id;
}

let lastPath = typeof window !== 'undefined' ? window.location.pathname : '/';
let restoring = false;
if (typeof window !== 'undefined') {
  // back/forward: the URL has already changed; put it back if the user wants to stay
  window.addEventListener('popstate', () => {
    if (restoring) {
      restoring = false;
      return;
    }
    const to = window.location.pathname;
    if (!sameWorkflow(lastPath, to) && !confirmLeave()) {
      restoring = true;
      window.history.pushState(null, '', lastPath);
      window.dispatchEvent(new Event(CHANGE));
      return;
    }
    lastPath = to;
  });
  window.addEventListener(CHANGE, () => {
    lastPath = window.location.pathname;
  });
}

/** While `when` holds, leaving the page (in the app or the browser) asks `message` first. */
export function useLeaveGuard(when: boolean, message = 'You have unsaved changes. Leave without saving?'): void {
  useEffect(() => {
    if (!when) return;
    const blocker: Blocker = () => message;
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = message; // older browsers show nothing without it
      return message;
    };
    blockers.add(blocker);
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => {
      blockers.delete(blocker);
      window.removeEventListener('beforeunload', onBeforeUnload);
    };
  }, [when, message]);
}

export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
