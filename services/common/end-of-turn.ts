/**
 * Publishes together at the end of this turn of the event loop. nats.js writes a microtask's publishes to the
 * socket at once, so messages published from different callbacks of one turn (answers finished by different
 * worker messages; requests of different HTTP connections) went out in a write each. On this VM a socket
 * write that wakes nats-server costs about as much as the rest of a trivial call. A message waits at most
 * for the other callbacks of the same turn.
 */
export class EndOfTurn {
  private readonly queue: (() => void)[] = [];
  private readonly after: (() => void)[] = [];

  /** Runs `send` after the callbacks of this turn (setImmediate), with every other send queued meanwhile. */
  post(send: () => void): void {
    this.queue.push(send);
    this.schedule();
  }

  /**
   * Runs `send` with this turn's sends but after every one of them (`post`ed before or after it), in the same
   * socket write: what should not go ahead of an answer nor cost a write of its own (log entries).
   */
  postAfter(send: () => void): void {
    this.after.push(send);
    this.schedule();
  }

  private schedule(): void {
    if (this.queue.length + this.after.length > 1) return;
    setImmediate(() => {
      const now = this.queue.splice(0);
      const later = this.after.splice(0);
      for (const queued of now) queued();
      for (const queued of later) queued();
    });
  }
}
