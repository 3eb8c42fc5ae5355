import { formatConnectionUrl, parseConnectionUrl } from './connection-url.js';

/** Replaces the password in a connection URL with ***, leaving hosts and database readable. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    // A multi-host URL (`postgres://u:p@h1:5432,h2:5433/db`), which URL cannot parse.
    const parsed = parseConnectionUrl(value);
    if (parsed) return formatConnectionUrl({ ...parsed, password: parsed.password ? '***' : parsed.password });
    // Not a URL we can parse: it may hold a secret anywhere, so show none of it.
    return '***';
  }
}

export function maskSecret(value: string): string {
  return value.length === 0 ? '' : '***';
}

/** Masks every URL password inside free text (error messages from drivers can quote the URL). */
export function maskUrlsInText(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/\s@]*:)([^@\s]+)@/gi, '$1***@');
}
