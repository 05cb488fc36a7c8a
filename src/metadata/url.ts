/**
 * The one rule that turns a server URL into the URL of its latest.json, shared by the
 * device (`server=` / `--server`) and the publisher (`kubesolo-release verify URL`), so
 * `verify` checks exactly the file a device fetches (docs/publishing.md "Checking a
 * release": the forms and what they resolve to).
 *
 * A URL whose path (or whole text, before a query) ends in `.json` names the file
 * itself and is used as given; anything else names the directory holding latest.json:
 * trailing slashes are dropped and `/latest.json` appended to the text as written.
 */
import { METADATA_FILE } from './model.js';

export function metadataUrlFor(server: string): string {
  if (/\.json($|\?)/.test(server)) return server;
  return server.replace(/\/+$/, '') + '/' + METADATA_FILE;
}
