import { SERVICES } from '@tickvault/config';
import type { AssetClass } from '@tickvault/schema';

export { ASSET_CLASS_ENV, INGEST_COMMON_ENV } from '@tickvault/config';

export const DEFAULT_HEALTH_PORTS: Record<AssetClass, number> = {
  crypto: SERVICES['ingest-crypto'].healthPort,
  stock: SERVICES['ingest-stock'].healthPort,
  macro: SERVICES['ingest-macro'].healthPort,
};
