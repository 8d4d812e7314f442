/**
 * A random order of a list (Fisher-Yates): who is asked first among peers alike, so that no one peer (the
 * first provider, the gossip sender, often the builder) always takes the load.
 */
export function shuffled<T>(items: readonly T[], random: () => number = Math.random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
