import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  service: string;
  level: string;
  format: 'auto' | 'json' | 'pretty';
  nodeEnv?: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const pretty =
    options.format === 'pretty' || (options.format === 'auto' && (process.stdout.isTTY || options.nodeEnv === 'development'));
  return pino({
    level: options.level,
    base: { service: options.service },
    // Redaction is a second line of defence: config is masked before it is logged.
    redact: { paths: ['*.password', '*.secret', '*.apiKey', 'config.DATABASE_URL', 'config.REDIS_URL'], censor: '***' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  });
}
