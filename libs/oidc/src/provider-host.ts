import type Provider from 'oidc-provider';
import type { Duration } from '#libs/core';
import type { SigningKey, SigningKeyStore } from '#libs/oidc-store';

/**
 * The provider instance that serves HTTP and signs, rebuilt when the signing-key set changes.
 *
 * oidc-provider takes its keys at construction and has no supported way to swap them, so a
 * rotation (`keys:rotate`, on any node) is picked up by building a new instance from the
 * same configuration and the new key set, and sending the next requests to it. Instances
 * hold no state of their own (every model, session and interaction is in PostgreSQL, and
 * cookies are signed with the same keys), so a flow started on the old instance continues
 * on the new one, as it would on another node. `refresh()` compares the published key set
 * (kids and statuses, by the Gatehouse clock) with the one in use: a new key, a pending key
 * starting to sign, or a retired key whose retention ended each give a new instance.
 */
export class OidcProviderHost {
  private provider: Provider;
  private fingerprint: string;
  private readonly callbacks = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  private refreshing: Promise<boolean> | undefined;

  private constructor(
    private readonly store: SigningKeyStore,
    private readonly retention: Duration,
    private readonly build: (keys: SigningKey[]) => Provider,
    keys: SigningKey[],
  ) {
    this.provider = build(keys);
    this.fingerprint = fingerprintOf(keys);
  }

  /** Loads the keys (creating the first one if needed) and builds the first instance. */
  static async start(store: SigningKeyStore, retention: Duration, build: (keys: SigningKey[]) => Provider): Promise<OidcProviderHost> {
    return new OidcProviderHost(store, retention, build, await store.load(retention));
  }

  /** The instance to serve requests and sign with now. */
  get current(): Provider {
    return this.provider;
  }

  /** The current instance's HTTP handler (one per instance, made when first asked for). */
  callback(): ReturnType<Provider['callback']> {
    let callback = this.callbacks.get(this.provider);
    if (!callback) {
      callback = this.provider.callback();
      this.callbacks.set(this.provider, callback);
    }
    return callback;
  }

  /** Rebuilds the instance when the key set changed; true when it did. Concurrent calls share one check. */
  async refresh(): Promise<boolean> {
    this.refreshing ??= this.check().finally(() => {
      this.refreshing = undefined;
    });
    return await this.refreshing;
  }

  private async check(): Promise<boolean> {
    const state = await this.store.state(this.retention);
    if (fingerprintOf(state) === this.fingerprint) return false;
    const keys = await this.store.load(this.retention);
    this.provider = this.build(keys);
    this.fingerprint = fingerprintOf(keys);
    return true;
  }
}

function fingerprintOf(keys: Array<Pick<SigningKey, 'kid' | 'status'>>): string {
  return keys.map((k) => `${k.kid}:${k.status}`).join(',');
}
