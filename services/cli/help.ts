/** `--help` texts of the CLI. Keep in step with README and docs/cli.md. */

export const HELP = `hayate — serverless functions for the edge: WebAssembly at once, warm containers when hot

Usage: hayate <verb> [options]

Services
  up            start nats-server, a controller and invokers on loopback (the embedded cluster)
  controller    run the HTTP controller against an existing NATS
  invoker       run one invoker against an existing NATS

Functions (talk to a controller: --url or HAYATE_URL, default http://127.0.0.1:8080)
  deploy <name> <file.wasm>   deploy or redeploy a function
  invoke <name>               stdin → function → stdout; exits with the function's exit code
  ls                          list functions
  get <name>                  show a function's spec
  rm <name>                   remove a function
  status                      invokers and per-function tier state
  activation <id>             an async invocation's record
  bench                       the seed evaluation (see hayate bench --help)

Every verb takes --help. Client verbs take --json for machine-readable output.
Environment: HAYATE_URL, HAYATE_API_KEY (client); HAYATE_NATS_URL, HAYATE_API_KEYS, HAYATE_LOG_LEVEL,
HAYATE_WORKERS, … (services; see docs/configuration.md).
`;

const VERBS: Record<string, string> = {
  up: `Usage: hayate up [--data DIR] [--invokers N] [--http-port P] [--nats-port P] [--state-file F] [--examples]
                 [--sites N]

Starts nats-server with JetStream (data under DIR), one controller and N invokers, each in its own
process, on 127.0.0.1. When all are ready it prints exactly one line:
  hayate ready http=<url> nats=<url>
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
`,
  controller: `Usage: hayate controller [--nats URL] [--port P] [--host H] [--insecure] [--js-domain D]

Runs the HTTP API (SPEC §5) against an existing NATS. Prints "hayate controller ready http=<url>".
Refuses to listen beyond loopback without HAYATE_API_KEYS unless --insecure.

  --nats URL     NATS server(s), comma-separated   [HAYATE_NATS_URL or nats://127.0.0.1:4222]
  --port P       listen port (0 = any free)          [HAYATE_HTTP_PORT or 8080]
  --host H       listen address                      [HAYATE_HTTP_HOST or 127.0.0.1]
  --insecure     allow a non-loopback address without API keys
  --js-domain D  JetStream domain of the hub holding hayate's buckets  [HAYATE_JS_DOMAIN or the server's own]
`,
  invoker: `Usage: hayate invoker [--nats URL] [--id ID] [--workers N] [--site NAME] [--js-domain D] [--metrics-port P]

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
`,
  deploy: `Usage: hayate deploy <name> <file.wasm> [--image I] [--memory-mb M] [--timeout-ms T]
                     [--max-concurrency C] [--policy auto|wasm|container] [--env K=V]... [--arg A]...
                     [--files DIR [--files-path P] [--files-writable]]

Deploys (or redeploys) a WASI command module. Name: [a-z0-9][a-z0-9-]{0,62}.
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
  invoke: `Usage: hayate invoke <name> [--arg A]... [--async] [--url U] [--json]

Sends stdin to the function and writes its stdout. Exits with the function's exit code (1 for other
failures; the error goes to stderr). With --async prints {"id": …}; see hayate activation <id>.
`,
  ls: 'Usage: hayate ls [--url U] [--json]\n\nLists deployed functions.\n',
  get: 'Usage: hayate get <name> [--url U]\n\nPrints the function\'s spec as JSON.\n',
  rm: 'Usage: hayate rm <name> [--url U] [--json]\n\nRemoves a function.\n',
  status: 'Usage: hayate status [--url U] [--json]\n\nShows every invoker and, per function, its tier state, invocations and p50/p99 per tier.\n',
  bench: `Usage: hayate bench [--quick] [--json FILE] [--report DIR] [--invokers N]

Reproduces the seed evaluation on this machine: startup, execution and teardown of tasks of several sizes
(upper, sha256, primes, matmul) and amounts (a cold call; 10, 100, 1000 calls; concurrency 1, 8, 32) for
the hybrid policy, WASM only, containers only and a cold \`docker run\` per call, with the limits measured
in the same run (bare NATS round trip, in-process @wasmer/wasi run). Starts its own cluster (hayate up on
free ports) and stops it after. Shows progress on stderr.

  --quick          a short run (within 2 minutes)
  --json FILE      write the results as JSON
  --report DIR     folder of report.md and charts/*.svg       [bench-results/<time>]
  --invokers N     invoker processes                          [1]
`,
  activation: 'Usage: hayate activation <id> [--url U]\n\nPrints an async invocation\'s record: state, attempts, output, stderr, timings, tier, invoker.\n',
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
