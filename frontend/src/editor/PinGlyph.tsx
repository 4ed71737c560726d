// A push pin: the mark of a node whose output is pinned (an SVG: emoji fonts are not everywhere).

export function PinGlyph({ size = 12 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 16 16" aria-hidden="true" className="pin-glyph">
      <path d="M10.5 1.5l4 4-1.6.6-2.4 2.4.4 3.5-1.4 1.4-2.7-2.7L3 14.5l-1.5.1.1-1.5 3.8-3.8-2.7-2.7L4.1 5.2l3.5.4L10 3.1z" fill="currentColor" />
    </svg>
  );
}
