// Ids the server accepts (runtime.graph.ID_PATTERN): letters, digits, _ and -, at most 64.

/** A readable id from a type name: "worker" → "worker_3", the first free number. */
export function nextId(prefix: string, taken: Iterable<string>): string {
  const clean = prefix.replace(/[^A-Za-z0-9_-]/g, '_').replace(/^-+/, '').slice(0, 50) || 'node';
  const used = new Set(taken);
  for (let n = 1; ; n += 1) {
    const candidate = `${clean}_${n}`;
    if (!used.has(candidate)) return candidate;
  }
}

/** Edge ids: e1, e2, … (the first free number after the highest in use). */
export function nextEdgeId(taken: Iterable<string>): string {
  const used = new Set(taken);
  let highest = 0;
  for (const id of used) {
    const match = /^e(\d+)$/.exec(id);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  let n = highest + 1;
  while (used.has(`e${n}`)) n += 1;
  return `e${n}`;
}
