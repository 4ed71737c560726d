// How node types look: a colour per category (the icon per type is in NodeIcon.tsx).

import type { Category } from '../api/graph';

// the building blocks of a first flow first: an approval gate is one, not an afterthought below the fold
export const CATEGORY_ORDER: Category[] = ['io', 'ai', 'human', 'logic', 'integrations'];

export const CATEGORY_LABEL: Record<string, string> = {
  io: 'Input & output',
  ai: 'AI agents',
  logic: 'Logic',
  integrations: 'Integrations',
  human: 'Human in the loop',
};

export function categoryClass(category: string | undefined): string {
  return `cat-${category && CATEGORY_LABEL[category] ? category : 'other'}`;
}
