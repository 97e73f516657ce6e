/**
 * Answers of recent invocations, so that a retry (same function, same `invocation_id`, same request, next
 * `attempt`) of a finished or running invocation gets the same answer instead of running the function twice
 * (SPEC §7). Entries are keyed by function and id (`invocationKey`): an id reused on another function is
 * another invocation. Each entry keeps the request it answers, so that an id reused with another request
 * is told apart (`sameRequest`) and never answered with someone else's output.
 * Bounded by count, age and the bytes of the answers it holds (outputs reach 6 MiB); the oldest go first,
 * taken from the head of a queue in the order they were remembered (O(1) per entry: scanning the Map from its
 * start skipped the holes its deletes left, and took 13 % of an invoker's CPU at 5,000 calls/s once it held
 * 100,000 entries, its CPU per call doubling within a minute).
 */
import { createHash } from 'node:crypto';
import type { InvokeRequest, InvokeResponse } from '../common/codec';

/** What makes two requests the same invocation, beside function and id. */
export type RequestContent = Pick<InvokeRequest, 'function' | 'input' | 'args' | 'env'>;

/** The key of an invocation: its function and its id. */
export function invocationKey(fn: string, id: string): string {
  return `${fn}/${id}`;
}

/**
 * A digest of a request's content, sent with a peer lookup so that a peer answers only the same request.
 * Computed on the retry path only (about 10 ms for 6 MiB here): first attempts never pay it.
 */
export function requestDigest(r: RequestContent): string {
  const h = createHash('sha256').update(r.function).update('\0');
  for (const a of r.args) h.update(a).update('\0');
  h.update('\0');
  for (const k of Object.keys(r.env).sort()) h.update(k).update('=').update(r.env[k] ?? '').update('\0');
  return h.update('\0').update(r.input).digest('base64url');
}

/**
 * Inputs larger than this are not kept once answered: the entry keeps their digest instead (hashed once, on
 * the event loop, about 2 ms per MiB here). Kept whole, the inputs of 1 MiB calls answered in the last
 * seconds filled the invoker's held-bytes bound and it refused calls OVERLOADED under steady load.
 */
const KEEP_INPUT_MAX = 64 * 1024;

function sameContent(a: RequestContent, b: RequestContent): boolean {
  if (a.function !== b.function || a.args.length !== b.args.length || !a.args.every((x, i) => x === b.args[i])) return false;
  const ak = Object.keys(a.env);
  if (ak.length !== Object.keys(b.env).length || !ak.every((k) => a.env[k] === b.env[k])) return false;
  return Buffer.from(a.input.buffer, a.input.byteOffset, a.input.byteLength).equals(b.input);
}

/** An invocation remembered: its answer (perhaps still running) and the request it answers. */
export interface Recent {
  readonly answer: Promise<InvokeResponse>;
  /** Whether `request` is the request this entry answers (content compared, no digest needed). */
  sameRequest(request: RequestContent): boolean;
  /** The digest of the request this entry answers (computed once, on a peer's lookup). */
  digest(): string;
  /** Marks it as run here: from now on peers asking for it are answered. */
  hold(): void;
  /** Forgets it (answers that must not be replayed, e.g. "overloaded, try elsewhere"). */
  forget(): void;
}

/**
 * One remembered invocation. A class, not an object of closures: the invoker keeps up to 100,000 of them, and
 * four closures and their context cost ≈300 bytes each.
 */
class Entry implements Recent {
  readonly atMs = Date.now();
  /** Its place in the eviction order, emptied when the entry is removed. */
  readonly slot: Slot = { entry: this };
  /** Its bytes are counted in `protectedBytes`. */
  protectedCounted = false;
  /** Output + stderr bytes once the answer is in, plus the input it keeps. */
  bytes = 0;
  /** The answer once it is in, as kept (see `compact`); until then `running` is. */
  private kept: InvokeResponse | null = null;
  /** The request until it is answered; then a copy of its input, or only its digest when the input is large. */
  content: RequestContent | null;
  readonly inputBytes: number;
  private digestValue: string | null = null;

  /**
   * @param held false while a retry is still asking peers for the answer; true once it runs here (or has an answer)
   * @param protectUntilMs until then a retry of it may still come (its caller's deadline): not dropped for bytes before
   */
  constructor(
    private readonly owner: RecentResults,
    readonly key: string,
    private running: Promise<InvokeResponse> | null,
    request: RequestContent,
    public held: boolean,
    public protectUntilMs: number,
  ) {
    this.content = request;
    this.inputBytes = request.input.byteLength;
  }

  get answer(): Promise<InvokeResponse> {
    return this.running ?? Promise.resolve(this.kept as InvokeResponse);
  }

  /** The answer is in: kept as it is (the promise of a run let go of). */
  answered(response: InvokeResponse): void {
    this.kept = response;
    this.running = null;
  }

  sameRequest(other: RequestContent): boolean {
    if (this.content !== null) return sameContent(this.content, other);
    return other.input.byteLength === this.inputBytes && requestDigest(other) === this.digest();
  }

  /** Computed before `content` is let go of (see `RecentResults.set`). */
  digest(): string {
    return (this.digestValue ??= requestDigest(this.content as RequestContent));
  }

  hold(): void {
    this.held = true;
  }

  forget(): void {
    this.owner.remove(this);
  }
}

/** An entry's place in the order of eviction; `entry` is null once it was removed. */
interface Slot {
  entry: Entry | null;
}

const NO_ARGS: string[] = [];
const NO_ENV: Record<string, string> = {};

/**
 * Bytes kept of a small answer or input: a copy in Buffer's shared pool (a view, ≈100 bytes of heap) instead
 * of a Uint8Array of its own (≈215 bytes for 16 bytes of data: a typed array and an ArrayBuffer each); larger
 * ones as they are. Here only: a pooled view posted to a worker would clone its whole 8 KiB pool.
 */
function keptBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteLength > 0 && bytes.byteLength < Buffer.poolSize >>> 1 ? Buffer.from(bytes) : bytes;
}

/** An answer as kept for retries: its output and stderr in `keptBytes`. */
function compact(r: InvokeResponse): InvokeResponse {
  return { ...r, output: keptBytes(r.output), stderr: keptBytes(r.stderr) };
}

export class RecentResults {
  /** By invocation key; more than one entry only when an id was reused with other content. */
  private readonly entries = new Map<string, Entry[]>();
  /** Every entry in the order it was remembered, oldest at `head` (removed ones are empty slots). */
  private order: Slot[] = [];
  private head = 0;
  private count = 0;
  private heldBytes = 0;
  /** Bytes of answers a retry may still come for, and those entries in about the order they expire. */
  private protectedSum = 0;
  private readonly protectedQueue: Entry[] = [];

  /**
   * @param maxEntries answers kept @default 100000
   * @param maxAgeMs how long an answer is kept @default 300000
   * @param maxBytes output, stderr and input bytes kept of answers no retry can come for any more; answers
   *   whose caller may still retry are kept whatever their bytes (the invoker counts them as held input and
   *   refuses new work OVERLOADED instead: evicting them made 6 MiB calls run twice, issue 11 finding 4)
   *   @default 64 MiB
   */
  constructor(
    private readonly maxEntries = 100_000,
    private readonly maxAgeMs = 300_000,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The invocation `key` (see `invocationKey`) of this same `request`, when it is running or finished recently. */
  get(key: string, request: RequestContent): Recent | undefined {
    return this.live(key).find((e) => e.sameRequest(request));
  }

  /**
   * Remembers the (possibly still running) answer of the invocation `key` of `request`. Another request
   * under the same key is another invocation, remembered beside it.
   * @param held false while the answer is still being looked up among peers (see `hold`) @default true
   * @param protectUntilMs until when a retry may come (the caller's deadline) @default now
   * @param protectAfterAnswerMs how long after its answer a retry may still come (a caller that missed the
   *   answer re-sends within its patience; see `InvocationRunner`) @default until protectUntilMs
   * @returns the entry, to `hold` or `forget` it later
   */
  set(key: string, answer: Promise<InvokeResponse>, request: RequestContent, held = true, protectUntilMs = 0, protectAfterAnswerMs = Number.POSITIVE_INFINITY): Recent {
    this.get(key, request)?.forget();
    const entry = new Entry(this, key, answer, request, held, protectUntilMs);
    this.order.push(entry.slot);
    const list = this.entries.get(key);
    if (list === undefined) this.entries.set(key, [entry]);
    else list.push(entry);
    this.count += 1;
    answer.then(
      (r) => {
        if (entry.slot.entry === null) return;
        const dropInput = entry.inputBytes > KEEP_INPUT_MAX;
        const kept = entry.content;
        if (dropInput) {
          // hashed once the answer has left, not ahead of it: the answer's send is queued for the end of this
          // turn (EndOfTurn) by the code this answer resumes, after this callback; a hash queued a turn later
          // runs after that send (a 5 MiB input hashed ≈10 ms here, all of it between the run and its answer)
          setImmediate(() =>
            setImmediate(() => {
              entry.digest();
              entry.content = null;
            }),
          );
        } else if (kept !== null) {
          // a copy of the input alone: the request's is a view into NATS's read buffer (kB of other messages);
          // a small one in Buffer's pool (see keptBytes)
          entry.content = { function: kept.function, args: kept.args.length === 0 ? NO_ARGS : kept.args, env: Object.keys(kept.env).length === 0 ? NO_ENV : kept.env, input: Buffer.from(kept.input) };
        }
        entry.answered(compact(r));
        entry.bytes = r.output.byteLength + r.stderr.byteLength + (dropInput ? 0 : entry.inputBytes);
        entry.protectUntilMs = Math.min(entry.protectUntilMs, Date.now() + protectAfterAnswerMs);
        this.heldBytes += entry.bytes;
        if (entry.protectUntilMs > Date.now()) {
          entry.protectedCounted = true;
          this.protectedSum += entry.bytes;
          this.protectedQueue.push(entry);
        }
        this.trim();
      },
      () => undefined,
    );
    this.trim();
    return entry;
  }

  /**
   * The invocation of `key` whose request has `digest`, when this invoker runs it or has it (not while it
   * only asks peers), for peers' lookups.
   */
  held(key: string, digest: string): Recent | undefined {
    return this.live(key).find((e) => e.held && e.digest() === digest);
  }

  /** Entries remembered. */
  get size(): number {
    return this.count;
  }

  /** Output, stderr and input bytes of the answers kept. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Bytes of the answers kept that a retry may still come for (counted by the invoker as held). */
  get protectedBytes(): number {
    const now = Date.now();
    for (let head = this.protectedQueue[0]; head !== undefined && (head.protectUntilMs <= now || !head.protectedCounted); head = this.protectedQueue[0]) {
      this.unprotect(head);
      this.protectedQueue.shift();
    }
    return this.protectedSum;
  }

  private unprotect(entry: Entry): void {
    if (!entry.protectedCounted) return;
    entry.protectedCounted = false;
    this.protectedSum -= entry.bytes;
  }

  /** The entries of `key` younger than maxAgeMs (older ones are dropped on the way). */
  private live(key: string): Entry[] {
    const list = this.entries.get(key);
    if (list === undefined) return [];
    const now = Date.now();
    for (const e of list.filter((x) => now - x.atMs > this.maxAgeMs)) this.remove(e);
    return this.entries.get(key) ?? [];
  }

  /** Forgets `entry` (its `forget`, and eviction). */
  remove(entry: Entry): void {
    const key = entry.key;
    const list = this.entries.get(key);
    const at = list?.indexOf(entry) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    if (list.length === 0) this.entries.delete(key);
    entry.slot.entry = null;
    this.count -= 1;
    this.heldBytes -= entry.bytes;
    this.unprotect(entry);
  }

  /** Drops the oldest entries past maxEntries or maxAgeMs, then the oldest finished answers past maxBytes. */
  private trim(): void {
    const now = Date.now();
    for (; this.head < this.order.length; this.head += 1) {
      const { entry } = this.order[this.head]!;
      if (entry !== null && this.count <= this.maxEntries && now - entry.atMs <= this.maxAgeMs) break;
      if (entry !== null) this.remove(entry);
    }
    if (this.heldBytes > this.maxBytes) {
      // running invocations hold no bytes yet and stay, and so do answers a retry may still come for
      for (let i = this.head; i < this.order.length && this.heldBytes > this.maxBytes; i += 1) {
        const { entry } = this.order[i]!;
        if (entry !== null && entry.bytes > 0 && entry.protectUntilMs <= now) this.remove(entry);
      }
    }
    // the queue is cut when its head or its empty slots pass half of it: an amortised O(1) per entry
    const slots = this.order.length - this.head;
    if ((this.head > 1024 && this.head * 2 > this.order.length) || slots > 2 * this.count + 1024) {
      this.order = this.order.slice(this.head).filter((x) => x.entry !== null);
      this.head = 0;
    }
  }
}
