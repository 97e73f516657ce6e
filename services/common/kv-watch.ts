import type { KV, KvEntry } from 'nats';

/**
 * Streams every current entry of a KV bucket and then every change, in order, until `signal` aborts.
 * @param onEntry called for each entry (puts, deletes and purges)
 */
export async function watchKv(kv: KV, signal: AbortSignal, onEntry: (entry: KvEntry) => void): Promise<void> {
  const iter = await kv.watch({ key: '>' });
  const stop = () => iter.stop();
  signal.addEventListener('abort', stop, { once: true });
  void (async () => {
    try {
      for await (const entry of iter) onEntry(entry);
    } finally {
      signal.removeEventListener('abort', stop);
    }
  })();
}
