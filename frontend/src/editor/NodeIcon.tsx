// Node-type icons as inline SVG (fonts differ between machines; glyph characters do not always
// exist in them). Stroke icons on a 24-unit grid, drawn in the current text colour.

import type { ReactNode } from 'react';

const PATHS: Record<string, ReactNode> = {
  input: (
    <>
      <path d="M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4" />
      <path d="M3 12h12M11 8l4 4-4 4" />
    </>
  ),
  output: (
    <>
      <path d="M10 4H6a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h4" />
      <path d="M9 12h12M17 8l4 4-4 4" />
    </>
  ),
  worker: (
    <>
      <path d="M12 3l1.9 5.1L19 10l-5.1 1.9L12 17l-1.9-5.1L5 10l5.1-1.9z" />
      <path d="M18.5 16.5l.7 1.8 1.8.7-1.8.7-.7 1.8-.7-1.8-1.8-.7 1.8-.7z" />
    </>
  ),
  manager: (
    <>
      <path d="M3 8l4.5 4L12 5l4.5 7L21 8l-2 10H5z" />
      <path d="M5 21h14" />
    </>
  ),
  router: (
    <>
      <circle cx="5" cy="12" r="2" />
      <path d="M7 12h4l3-5h5M11 12l3 5h5" />
      <path d="M17 5l2 2-2 2M17 15l2 2-2 2" />
    </>
  ),
  transform: (
    <>
      <path d="M8 4c-2 0-3 1-3 3v2c0 1.5-1 3-2 3 1 0 2 1.5 2 3v2c0 2 1 3 3 3" />
      <path d="M16 4c2 0 3 1 3 3v2c0 1.5 1 3 2 3-1 0-2 1.5-2 3v2c0 2-1 3-3 3" />
      <path d="M10 9l4 6M14 9l-4 6" />
    </>
  ),
  approval: (
    <>
      <path d="M12 3l7 3v6c0 4.5-3 7.5-7 9-4-1.5-7-4.5-7-9V6z" />
      <path d="M8.5 12l2.5 2.5 4.5-5" />
    </>
  ),
  classifier: (
    <>
      <path d="M4 5h16l-6 7v6l-4 2v-8z" />
    </>
  ),
  conversation: (
    <>
      <path d="M4 5h11a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H9l-3 3v-3H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z" />
      <path d="M18 9h2a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1h-1v3l-3-3h-5a1 1 0 0 1-1-1v-1" />
    </>
  ),
  subflow: (
    <>
      <rect x="3" y="4" width="7" height="6" rx="1" />
      <rect x="14" y="14" width="7" height="6" rx="1" />
      <path d="M6.5 10v3.5a1.5 1.5 0 0 0 1.5 1.5h6" />
      <path d="M12 13l2 2-2 2" />
    </>
  ),
  // each item of a list, run through the body
  map: (
    <>
      <path d="M3 6h1.5M3 12h1.5M3 18h1.5" />
      <path d="M8 6h10M8 12h10M8 18h10" />
      <path d="M16 3.5L18.5 6 16 8.5M16 9.5l2.5 2.5-2.5 2.5M16 15.5l2.5 2.5-2.5 2.5" />
    </>
  ),
  // the body again and again, until a condition holds
  loop: (
    <>
      <path d="M17 2l4 4-4 4" />
      <path d="M3 11v-1a4 4 0 0 1 4-4h14" />
      <path d="M7 22l-4-4 4-4" />
      <path d="M21 13v1a4 4 0 0 1-4 4H3" />
    </>
  ),
  http_request: (
    <>
      <circle cx="12" cy="12" r="9" />
      <path d="M3 12h18M12 3c2.5 2.5 3.8 5.5 3.8 9s-1.3 6.5-3.8 9c-2.5-2.5-3.8-5.5-3.8-9S9.5 5.5 12 3z" />
    </>
  ),
  integrations: (
    <>
      <circle cx="12" cy="12" r="9" />
      <path d="M3 12h18" />
    </>
  ),
  io: <path d="M4 12h16M14 6l6 6-6 6" />,
  ai: <path d="M12 3l2.5 6.5L21 12l-6.5 2.5L12 21l-2.5-6.5L3 12l6.5-2.5z" />,
  logic: <path d="M12 3l9 9-9 9-9-9z" />,
  human: (
    <>
      <circle cx="12" cy="8" r="4" />
      <path d="M4 21c0-4 3.5-7 8-7s8 3 8 7" />
    </>
  ),
  other: (
    <>
      <circle cx="12" cy="12" r="8" />
      <path d="M12 8v5M12 16h.01" />
    </>
  ),
};

export function NodeIcon({ type, category, size = 18 }: { type: string; category?: string; size?: number }) {
  const paths = PATHS[type] ?? PATHS[category ?? ''] ?? PATHS.other;
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.8}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {paths}
    </svg>
  );
}
