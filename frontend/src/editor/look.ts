// How node types look: a category colour and a glyph per type (one place, used by palette,
// node cards and the settings panel).

import type { Category, NodeTypeSpec } from '../api/graph';

export const CATEGORY_ORDER: Category[] = ['io', 'ai', 'logic', 'human'];

export const CATEGORY_LABEL: Record<string, string> = {
  io: 'Input & output',
  ai: 'AI agents',
  logic: 'Logic',
  human: 'Human in the loop',
};

const TYPE_GLYPH: Record<string, string> = {
  input: '⇥',
  output: '⇤',
  worker: '✦',
  manager: '♛',
  router: '⑂',
  transform: 'ƒ',
  approval: '✋',
};

const CATEGORY_GLYPH: Record<string, string> = { io: '◆', ai: '✦', logic: '◇', human: '☺' };

export function glyphOf(spec: Pick<NodeTypeSpec, 'type' | 'category'> | undefined, type?: string): string {
  if (!spec) return TYPE_GLYPH[type ?? ''] ?? '?';
  return TYPE_GLYPH[spec.type] ?? CATEGORY_GLYPH[spec.category] ?? '●';
}

export function categoryClass(category: string | undefined): string {
  return `cat-${category && CATEGORY_LABEL[category] ? category : 'other'}`;
}
