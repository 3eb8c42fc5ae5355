/**
 * Connection URLs split by hand. The WHATWG URL parser rejects a multi-host authority
 * (`postgres://u@h1:5432,h2:5433/db`), which libpq and postgres.js accept for failover, so every
 * place that reads or edits a database URL goes through here. Parts are kept as written
 * (percent-encoding included), so formatting an unchanged URL gives it back.
 */
export interface ConnectionUrl {
  /** `postgres:`, `redis:`, …: lowercase, with the colon, as `URL.protocol`. */
  protocol: string;
  /** As written (percent-encoded). */
  username: string;
  /** As written (percent-encoded); undefined without a `:` in the user part. */
  password: string | undefined;
  hosts: { host: string; port: string | undefined }[];
  /** The database, decoded; '' when the URL has no path. */
  database: string;
  /** The query string as written, with its `?`, or ''. */
  search: string;
}

export const TARGET_SESSION_ATTRS = ['any', 'read-write', 'read-only', 'primary', 'standby', 'prefer-standby'] as const;

/** The parts of `value`, or undefined when it is not `scheme://[user[:password]@]host[:port][,host[:port]…][/database][?query]`. */
export function parseConnectionUrl(value: string): ConnectionUrl | undefined {
  const match = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(value);
  if (!match) return undefined;
  const [, protocol = '', authority = '', path = '', search = ''] = match;
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const hosts: ConnectionUrl['hosts'] = [];
  for (const item of authority.slice(at + 1).split(',')) {
    // [v6]:port or host:port; a host is required for each entry.
    const host = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+)(?::(\d*))?$/i.exec(item);
    if (!host) return undefined;
    hosts.push({ host: host[1]!, port: host[2] || undefined });
  }
  let database: string;
  try {
    database = decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    return undefined;
  }
  return {
    protocol: protocol.toLowerCase(),
    username: colon === -1 ? userinfo : userinfo.slice(0, colon),
    password: colon === -1 ? undefined : userinfo.slice(colon + 1),
    hosts,
    database,
    search,
  };
}

export function formatConnectionUrl(url: ConnectionUrl): string {
  const userinfo = url.password === undefined ? url.username : `${url.username}:${url.password}`;
  const hosts = hostList(url.hosts);
  const path = url.database ? `/${encodeURIComponent(url.database)}` : '';
  return `${url.protocol}//${userinfo ? `${userinfo}@` : ''}${hosts}${path}${url.search}`;
}

/** `host:port,host:port`, for messages: no user, no password, no query. */
export function describeHosts(value: string): string {
  const parsed = parseConnectionUrl(value);
  return parsed ? hostList(parsed.hosts) : '(unparsable URL)';
}

function hostList(hosts: ConnectionUrl['hosts']): string {
  return hosts.map((h) => (h.port ? `${h.host}:${h.port}` : h.host)).join(',');
}

/** `value` with another database name; a multi-host URL keeps all its hosts and its query (target_session_attrs). */
export function withDatabase(value: string, database: string): string {
  const parsed = parseConnectionUrl(value);
  if (!parsed) throw new Error('not a connection URL');
  return formatConnectionUrl({ ...parsed, database });
}

/** `value` with `password` (already percent-encoded) as its password. */
export function withPassword(value: string, password: string): string {
  const parsed = parseConnectionUrl(value);
  if (!parsed) throw new Error('not a connection URL');
  return formatConnectionUrl({ ...parsed, password });
}

/** The `target_session_attrs` a URL asks for, or undefined. */
export function targetSessionAttrs(value: string): string | undefined {
  const parsed = parseConnectionUrl(value);
  return parsed ? new URLSearchParams(parsed.search).get('target_session_attrs') ?? undefined : undefined;
}
