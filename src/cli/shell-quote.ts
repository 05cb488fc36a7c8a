/**
 * Quote a word for a POSIX shell so that a command line printed for a human can be
 * copied and run as shown: plain words stay as they are, anything else is wrapped in
 * single quotes (a single quote inside becomes '\'').
 */
function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}
