/** Replaces the password in a connection URL with ***, leaving host and database readable. */
export function maskUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
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
