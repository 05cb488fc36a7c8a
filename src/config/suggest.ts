/**
 * "Did you mean ...?" for everything a user types by name: commands, options and
 * update.conf keys. One edit-distance rule for all three, so a typo is judged the same
 * way wherever it is made.
 */

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions), the
 * measure git and cargo use for their suggestions: `staus`→`status` and
 * `chanel`→`channel` are 1, `stauts`→`status` is 1 (a swap), not 2.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** How many edits still read as a typo of a word this long (short words: one). */
function tolerance(word: string): number {
  if (word.length <= 4) return 1;
  return word.length <= 8 ? 2 : 3;
}

/**
 * The candidate nearest to `word`, if it is close enough to be a typo of it; ties go
 * to the candidate listed first. Case is ignored (`Channel` suggests `channel`).
 */
export function nearest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(w, name.toLowerCase());
    if (distance <= tolerance(w) && (best === undefined || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

/** " Did you mean 'x'?" or the empty string: appended to an error message. */
export function didYouMean(word: string, candidates: Iterable<string>, quote = "'"): string {
  const n = nearest(word, candidates);
  return n === undefined ? '' : ` Did you mean ${quote}${n}${quote}?`;
}
