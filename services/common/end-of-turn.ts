/**
 * Publishes together at the end of this turn of the event loop. nats.js writes a microtask's publishes to the
 * socket at once, so messages published from different callbacks of one turn (answers finished by different
 * worker messages; requests of different HTTP connections) went out in a write each. On this VM a socket
 * write that wakes nats-server costs about as much as the rest of a trivial call. A message waits at most
 * for the other callbacks of the same turn.
 */
export class EndOfTurn {
  private readonly queue: (() => void)[] = [];

  /** Runs `send` after the callbacks of this turn (setImmediate), with every other send queued meanwhile. */
  post(send: () => void): void {
    this.queue.push(send);
    this.schedule();
  }

  private schedule(): void {
    if (this.queue.length > 1) return;
    setImmediate(() => {
      for (const queued of this.queue.splice(0)) queued();
    });
  }
}
