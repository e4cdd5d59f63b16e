/**
 * `Map.groupBy` (Node 21) for Node 20: the items in lists by key, keys and items in their order of
 * appearance. Replace with the built-in once Node 20 is gone.
 */
export function groupBy<T, K>(items: Iterable<T>, keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
