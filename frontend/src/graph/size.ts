// The size a node card is assumed to have before React Flow has measured it (kept apart from
// layout.ts so using it does not pull dagre into the editor's chunk).

export interface Size {
  width: number;
  height: number;
}

export const DEFAULT_NODE_SIZE: Size = { width: 216, height: 88 };
