import { runIngestService } from '@tickvault/ingest';

// Sources → validated ticks → queue. This service never touches Postgres.
await runIngestService('crypto');
