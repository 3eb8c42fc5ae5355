/** Output name → TypeScript entry of every process the build writes to dist/<name>.js. */
export const ENTRIES: Record<string, string>;
/** Builds dist/ afresh; returns the JavaScript files written. */
export function buildAll(options?: { quiet?: boolean }): Promise<string[]>;
