// bench/RESULTS.md holds one "## " section per benchmark. recordSection replaces the
// body of one section (from its heading to the next "## " heading) with a new report,
// leaving the heading and every other section as they are.
import { readFileSync, writeFileSync } from 'node:fs';

export function recordSection(resultsPath, heading, report) {
  const text = readFileSync(resultsPath, 'utf8');
  const start = text.indexOf(heading);
  if (start < 0) throw new Error(`${resultsPath} has no "${heading}" section`);
  const headingEnd = text.indexOf('\n', start) + 1;
  const next = text.indexOf('\n## ', headingEnd);
  const end = next < 0 ? text.length : next + 1;
  writeFileSync(resultsPath, text.slice(0, headingEnd) + '\n' + report + '\n\n' + text.slice(end));
}
