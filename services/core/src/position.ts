/**
 * A position token names what one command wrote: the id of its write transaction and how many
 * events it committed there. The projection has applied the position once it has applied that
 * many events of that transaction, which is exact whatever order the partitions are consumed in.
 * Format: `<txid>.<events>`, opaque to clients.
 */
export interface Position {
  txid: string;
  events: number;
}

export function formatPosition(position: Position): string {
  return `${position.txid}.${position.events}`;
}

/** Returns undefined when the text is not a position token (the caller answers 400, naming it). */
export function parsePosition(text: string): Position | undefined {
  const match = /^(\d{1,20})\.(\d{1,9})$/.exec(text.trim());
  if (!match?.[1] || !match[2]) return undefined;
  return { txid: match[1], events: Number(match[2]) };
}
