/** `--help` texts of the CLI. Keep in step with README and docs/cli.md. */
import { PROJECT_HELP } from './help-projects';

export const HELP = `hayate — serverless functions for the edge: WebAssembly at once, warm containers when hot

Usage: hayate <verb> [options]

Services
  up            start nats-server, a controller and invokers on loopback (the embedded cluster)
  controller    run the HTTP controller against an existing NATS
  invoker       run one invoker against an existing NATS

Projects
  new <name> [--lang L]       write a function project (c, cpp, rust, assemblyscript, lua)
  build [DIR]                 build its WASI module, native twin and image

Functions (talk to a controller: --url or HAYATE_URL, default http://127.0.0.1:8080)
  deploy <name> <file.wasm>   deploy or redeploy a function (no file, in a project: what build made)
  invoke <name>               stdin → function → stdout; exits with the function's exit code
  ls                          list functions
  get <name>                  show a function's spec
  rm <name>                   remove a function
  status                      invokers and per-function tier state
  activation <id>             an async invocation's record
  logs <name> [-f]            a function's stderr lines and run summaries; -f follows
  trigger add|ls|get|rm       run functions on NATS messages or on a schedule
  bench                       the seed evaluation (see hayate bench --help)

Every verb takes --help. Client verbs take --json for machine-readable output.
Environment: HAYATE_URL, HAYATE_API_KEY (client); HAYATE_NATS_URL, HAYATE_API_KEYS, HAYATE_LOG_LEVEL,
HAYATE_LOG_FORMAT, HAYATE_WORKERS, … (services; see docs/configuration.md).
`;

const VERBS: Record<string, string> = {
  up: `Usage: hayate up [--data DIR] [--invokers N] [--http-port P] [--nats-port P] [--state-file F] [--examples]
                 [--sites N] [--log-format auto|json|pretty]

Starts nats-server with JetStream (data under DIR), one controller and N invokers, each in its own
process, on 127.0.0.1. When all are ready it prints exactly one line on stdout:
  hayate ready http=<url> nats=<url>
then, with pretty logs, what runs where and three commands to try next on stderr (with JSON logs, one
"hayate up ready" record with the same facts). Its processes log in the format it chose.
A child that dies (nats-server, the controller, an invoker) is started again on the same port or with the
same id, after a pause that doubles with each quick death (0.25 s up to 30 s), and the state file gets its
new pid.
SIGINT or SIGTERM drains and stops everything (controller, then invokers, then NATS).

With --sites N it starts an edge deployment instead: a hub of 3 nats-servers with JetStream (domain
"hub", 3 replicas) on free ports, a leaf-node nats-server per site (site-a, site-b, …) with --invokers
invokers each, and the controller on the hub. A call published at a site's leaf is served by that site's
invokers, and by another site when it has none. nats=<url> is then the first hub server, and the state
file adds "hub" and "sites": [{"name","nats","invokers":[{"id","pid"}]}].

  --data DIR         JetStream data directory            [.hayate]
  --invokers N       invoker processes (per site with --sites; 0 allowed)  [2]
  --http-port P      controller port (0 = any free)      [8080]
  --nats-port P      NATS port (0 = any free; without --sites)  [4222]
  --state-file F     write {"http","nats","invokers":[{"id","pid"}]} to F
  --examples         build and deploy examples/functions/*
  --workers N        WASM worker threads per invoker     [cores]
  --sites N          edge sites, each a leaf node of a 3-server hub (0 = one server)  [0]
  --log-format F     auto (pretty on a terminal, JSON otherwise) | json | pretty  [HAYATE_LOG_FORMAT or auto]
`,
  controller: `Usage: hayate controller [--nats URL] [--port P] [--host H] [--insecure] [--js-domain D] [--log-format F]

Runs the HTTP API (SPEC §5) and the operator page (open its URL in a browser) against an existing
NATS. Prints "hayate controller ready http=<url>".
Refuses to listen beyond loopback without HAYATE_API_KEYS unless --insecure.

  --nats URL     NATS server(s), comma-separated   [HAYATE_NATS_URL or nats://127.0.0.1:4222]
  --port P       listen port (0 = any free)          [HAYATE_HTTP_PORT or 8080]
  --host H       listen address                      [HAYATE_HTTP_HOST or 127.0.0.1]
  --insecure     allow a non-loopback address without API keys
  --js-domain D  JetStream domain of the hub holding hayate's buckets  [HAYATE_JS_DOMAIN or the server's own]
  --log-format F auto (pretty on a terminal, JSON otherwise) | json | pretty  [HAYATE_LOG_FORMAT or auto]
`,
  invoker: `Usage: hayate invoker [--nats URL] [--id ID] [--workers N] [--site NAME] [--js-domain D] [--metrics-port P]
                      [--log-format F]

Runs one invoker against an existing NATS: subscribes to hayate.v1.invoke.* and hayate.v1.call.* in the
queue group hayate-invokers, answers hayate.v1.status, registers the micro service hayate-invoker.
Prints "hayate invoker ready id=<id>". SIGTERM drains: stop intake, finish in-flight work, exit 0.

  --nats URL     NATS server(s), comma-separated   [HAYATE_NATS_URL or nats://127.0.0.1:4222]
  --id ID        invoker id                          [HAYATE_INVOKER_ID or <hostname>-<pid>]
  --workers N    WASM worker threads                 [HAYATE_WORKERS or cores]
  --site NAME    edge site shown in status and metrics  [HAYATE_SITE]
  --js-domain D  JetStream domain of the hub holding hayate's buckets, for an invoker on an edge site's
                 leaf node                           [HAYATE_JS_DOMAIN or the server's own]
  --metrics-port P  serve Prometheus /metrics on P (0 = any free; the ready line then ends with
                 " metrics=<url>"), on HAYATE_METRICS_HOST  [HAYATE_METRICS_PORT or off]
  --log-format F auto (pretty on a terminal, JSON otherwise) | json | pretty  [HAYATE_LOG_FORMAT or auto]
`,
  deploy: `Usage: hayate deploy <name> <file.wasm> [--image I] [--memory-mb M] [--timeout-ms T]
                     [--max-concurrency C] [--policy auto|wasm|container] [--env K=V]... [--arg A]...
                     [--files DIR [--files-path P] [--files-writable]]

Deploys (or redeploys) a WASI command module. Name: [a-z0-9][a-z0-9-]{0,62}.
In a project folder (hayate.json), \`hayate deploy [name]\` deploys what hayate build produced with the
project's spec, its image and its files folder included (--files replaces the folder).
With --files, the folder DIR is packed as a tar, uploaded (PUT /v1/bundles, stored once by its sha256,
shared by every function that names it; up to 256 MiB) and shown to the function read-only at P in both
tiers; writes fail with EROFS.
  --image I            Docker image of the same program built natively (container tier)
  --memory-mb M        memory limit                          [128]
  --timeout-ms T       run time limit                        [10000]
  --max-concurrency C  runs at once per invoker               [cores]
  --policy P           auto | wasm | container               [auto]
  --env K=V            environment (repeatable)
  --arg A              argument (repeatable)
  --files DIR          files the function carries (a folder)
  --files-path P       where they appear: an absolute path    [/, beside /tmp and /dev]
  --files-writable     each WASM run writes to its own copy-on-write layer, counted against --memory-mb
                       (WASM only: refused with --image)
  --url U  --json
`,
  invoke: `Usage: hayate invoke <name> [--arg A]... [--async] [--timeout-ms T] [-v] [--url U] [--json]

Sends stdin to the function and writes its stdout. Exits with the function's exit code (1 for other
failures; the error goes to stderr). With --async prints {"id": …}; see hayate activation <id>.
The call may run as long as the function's deployed timeout_ms, and the controller waits that long;
--timeout-ms T ends it sooner (a longer T than timeout_ms has no effect).
  -v, --verbose   print the answer's status, tier, invoker, invocation id and Server-Timing to stderr
                  (curl -v style: "< Hayate-Tier: wasm")
`,
  ls: 'Usage: hayate ls [--url U] [--json]\n\nLists deployed functions: a table (NAME VERSION POLICY MEMORY_MB TIMEOUT_MS DIGEST IMAGE), or JSON.\n',
  get: 'Usage: hayate get <name> [--url U]\n\nPrints the function\'s spec as JSON.\n',
  rm: 'Usage: hayate rm <name> [--url U] [--json]\n\nRemoves a function.\n',
  status: 'Usage: hayate status [--url U] [--json]\n\nShows a table of invokers, then one of their functions: tier state, invocations and p50/p99 per tier.\n',
  bench: `Usage: hayate bench [--quick] [--json FILE] [--report DIR] [--invokers N]

Reproduces the seed evaluation on this machine and shows how cost grows with the work. Every figure is
given beside its floor measured in the same run (bare NATS round trip, to a responder in this process
and in another, back to back and after 10 ms idle; bare nats.js request/reply rate with calls pipelined;
in-process @wasmer/wasi run). Starts its own clusters (hayate up on free ports) and stops them after.
Shows progress on stderr.

- tasks of several sizes (upper, sha256, primes, matmul): startup, execution and teardown of the first
  call and of warm calls for the hybrid policy, WASM only, containers only, and a cold \`docker run\` per
  call; the full run adds amounts (10, 100, 1000 calls; concurrency 8, 32). The modes are compared in
  interleaved rounds (A B C, B C A, …): median of the round p50s with its min–max; then the hybrid and
  the best tier alone in short rounds (A B, B A, …) until the ratio of their p50s is known within ±2 %
  (95 % interval) or 40 s: hybrid ÷ best tier
- first call of a never-seen module right after its deploy, over hayate.v1.call and over HTTP (each
  transport's path warmed first with calls of another function)
- payload size (16 B, 1 KiB, 64 KiB, 1 MiB of upper)
- concurrency (1, 8, 32; full: also 128) over NATS and HTTP, from a warm platform (10 s of calls over
  each transport first) and each cell after an unmeasured third of its length: calls/s, p50/p99, CPU per
  call per process
  (invokers with their worker threads, nats-server, controller, this load generator)
- deployed functions called round robin (1, 100, 1000 distinct modules): first and steady calls, cold
  starts, the invokers' module cache bytes (quick: at most 200 steady calls)
- invokers on the node (1, 2, 4: clusters side by side, interleaved rounds)
The report (report.md) opens with a targets table (met or missed, measured value, its floor); charts go
to charts/*.svg. A quick run takes about 1.5 minutes on 2 busy cores; a full run about 20 minutes.

  --quick          a short run (within 2 minutes)
  --json FILE      write the results as JSON (every figure of the report); folders are made
  --report DIR     folder of report.md and charts/*.svg, made if missing [bench-results/<time>]
  --invokers N     invoker processes of the main cluster      [1]
`,
  ...PROJECT_HELP,
  activation: 'Usage: hayate activation <id> [--url U]\n\nPrints an async invocation\'s record: state, attempts, output, stderr, timings, tier, invoker.\n',
  logs: `Usage: hayate logs <name> [-f] [--since D] [--limit N] [--url U] [--json]

Prints a function's recent log entries: every line its runs wrote to stderr ("<time> <fn> <id> | line")
and one summary per run ("<time> <fn> <id> = <status> exit=… <tier> total=…ms … invoker=… attempt=…"),
from every invoker, whoever made the calls. Entries an invoker did not publish (its rate bound per
function) are announced as "! N log entries dropped". The same entries are on NATS: hayate.v1.logs.<fn>.

  -f, --follow   keep printing new entries until interrupted (server-sent events)
  --since D      entries newer than D: 30s, 10m, 2h                      [10m]
  --limit N      at most the last N entries (without -f)                 [1000]
  --json         one JSON object per line
`,
  trigger: `Usage: hayate trigger add <name> --function F (--subject S | --cron EXPR | --every D)
                          [--result-subject R] [--concurrency N] [--max-age D] [--arg A]...
       hayate trigger ls | get <name> | rm <name>       [--url U] [--json]

A trigger runs a function on every NATS message published on a subject (wildcards * and > allowed), or on
a schedule. Each message or tick runs once, even when invokers die: a JetStream stream the trigger owns
captures the messages, and they go through the async path (an activation record per message). Input = the
message's data; env HAYATE_TRIGGER, HAYATE_SUBJECT and HAYATE_HEADER_<NAME> per header. A message with a
Hayate-Reply-To header gets the function's answer there. The function must be deployed; removing it
pauses the trigger (its messages wait) until it is deployed again.

  --function F        the function to run (required)
  --subject S         run on every message on S (not hayate's own subjects)
  --cron EXPR         run on a cron schedule, UTC (5 fields, or 6 with seconds first)
  --every D           run every D (1s or more), ticks aligned on multiples of D
  --result-subject R  publish each non-empty output of a successful run on R
  --concurrency N     runs in flight across all invokers                 [16]
  --max-age D         drop (and count) a message not started within D of its capture; a run that starts
                      late gets only the time left
  --arg A             argument added to the function's (repeatable)

ls shows state and counters (received, invoked, failed, dropped, lag); get prints one trigger as JSON,
with its state (active, or paused and why), next tick and counters; rm removes it and what still waits.
`,
};

/** The help text of one verb. */
export function verbHelp(verb: string): string {
  return VERBS[verb] ?? HELP;
}

/** docs/cli.md, made from the help texts above (`npm run docs:cli`; a test keeps the file in step). */
export function cliMarkdown(): string {
  const parts = ['# The hayate CLI', '', 'Generated from `hayate --help` and `hayate <verb> --help` (`npm run docs:cli`).', '', '```', HELP.trimEnd(), '```', ''];
  for (const [verb, text] of Object.entries(VERBS)) parts.push(`## hayate ${verb}`, '', '```', text.trimEnd(), '```', '');
  return parts.join('\n');
}
