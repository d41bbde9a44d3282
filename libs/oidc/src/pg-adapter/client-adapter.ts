import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { ClientRegistry } from '#libs/oidc-store';

/** Clients are not stored by the provider: they come from `oidc_clients` (see ClientRegistry), read-only. */
export class ClientAdapter implements Adapter {
  constructor(private readonly registry: ClientRegistry) {}

  async find(id: string): Promise<AdapterPayload | undefined> {
    return (await this.registry.metadata(id)) as AdapterPayload | undefined;
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  upsert(): Promise<void> {
    return Promise.reject(new Error('clients are registered with the client:create command'));
  }

  consume(): Promise<void> {
    return Promise.reject(new Error('clients cannot be consumed'));
  }

  destroy(): Promise<void> {
    return Promise.reject(new Error('clients are not removed by the provider'));
  }

  revokeByGrantId(): Promise<void> {
    return Promise.resolve();
  }
}
