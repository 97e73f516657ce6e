/** NATS and HTTP header names of hayate's contract (SPEC §4, §5). */
export const Header = {
  status: 'Hayate-Status',
  exitCode: 'Hayate-Exit-Code',
  tier: 'Hayate-Tier',
  invocationId: 'Hayate-Invocation-Id',
  invoker: 'Hayate-Invoker',
  coldStart: 'Hayate-Cold-Start',
  errorCode: 'Hayate-Error-Code',
  attempt: 'Hayate-Attempt',
  /** HTTP answers that needed a failover: ms from the last sign of life of the failed attempt to the answer. */
  failoverMs: 'Hayate-Failover-Ms',
  /** HTTP answers that needed a failover: the longest silence after which an attempt was taken for dead, ms. */
  failoverDetectMs: 'Hayate-Failover-Detect-Ms',
  /** Raw calls: one header value per extra argument. */
  arg: 'Hayate-Arg',
  /** Raw calls: absolute deadline, Unix ms. */
  deadline: 'Hayate-Deadline',
  /**
   * Request header asking the invoker for interim messages on the reply subject before the answer:
   * an `ack` at once and a `beat` every N ms while the function runs (value: N). Lets a caller tell a dead
   * invoker from a slow function within seconds (SPEC §7).
   */
  progress: 'Hayate-Progress',
  /** Peer lookups (`<prefix>.v1.answer.<id>`): the function of the invocation asked for. */
  function: 'Hayate-Function',
  /** Peer lookups: the digest of the request, so that a peer answers only the same request (SPEC §7). */
  requestDigest: 'Hayate-Request-Digest',
  /**
   * Trigger messages: where to send the function's answer (a request through a trigger). JetStream answers
   * a message's own reply subject with its capture ack and does not store it, so the reply travels here.
   */
  replyTo: 'Hayate-Reply-To',
  /** Trigger outputs and answers: the trigger that ran them. */
  trigger: 'Hayate-Trigger',
  /** Trigger outputs and answers: the subject of the message that triggered the run. */
  subject: 'Hayate-Subject',
  /** Schedule ticks: the tick's time, ISO 8601. */
  scheduled: 'Hayate-Scheduled',
  /** NATS micro service error headers. */
  serviceError: 'Nats-Service-Error',
  serviceErrorCode: 'Nats-Service-Error-Code',
} as const;

/** Values of the `Hayate-Progress` header on interim messages. */
export const Progress = { ack: 'ack', beat: 'beat' } as const;
