/**
 * `hayate new <name> [--lang L]`: writes a function project (project.ts) — a stdin → stdout program,
 * `hayate.json`, a Dockerfile for the native twin where the language has one, and a three-line README.
 * The examples under examples/functions/ have the same layout.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { HayateError } from '../common/errors';
import { parseFunctionName } from '../common/names';
import type { Language } from './project';
import { DEFAULT_MAIN, IMAGE_PREFIX, LANGUAGES, PROJECT_FILE } from './project';
import { TOOLCHAINS } from './toolchains';

const TITLE: Readonly<Record<Language, string>> = { c: 'C', cpp: 'C++', rust: 'Rust', assemblyscript: 'AssemblyScript', lua: 'Lua' };

const HEADER = (name: string, mark: string): string => `${mark} ${name}: a hayate function. stdin is the request, stdout the answer, stderr the log.\n`;

/** The hello program of each language: answers `Hello, <stdin>!` (or `Hello, world!` on empty input). */
const PROGRAM: Readonly<Record<Language, (name: string) => string>> = {
  c: (name) => `/*${HEADER(name, '').trimEnd()} */
#include <stdio.h>

int main(void) {
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    while (n > 0 && (buf[n - 1] == '\\n' || buf[n - 1] == '\\r')) n--;
    buf[n] = '\\0';
    printf("Hello, %s!\\n", n > 0 ? buf : "world");
    return 0;
}
`,
  cpp: (name) => `${HEADER(name, '//')}#include <iostream>
#include <iterator>
#include <string>

int main() {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    while (!input.empty() && (input.back() == '\\n' || input.back() == '\\r')) input.pop_back();
    std::cout << "Hello, " << (input.empty() ? "world" : input) << "!\\n";
    return 0;
}
`,
  rust: (name) => `${HEADER(name, '//')}use std::io::{self, Read};

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("cannot read stdin");
    let name = input.trim_end();
    println!("Hello, {}!", if name.is_empty() { "world" } else { name });
}
`,
  assemblyscript: (name) => `${HEADER(name, '//')}// Built with @assemblyscript/wasi-shim: \`process\` is WASI's stdin, stdout, args and env.
const chunks = new Array<ArrayBuffer>();
let total = 0;
for (;;) {
  const chunk = new ArrayBuffer(65536);
  const n = process.stdin.read(chunk);
  if (n <= 0) break;
  chunks.push(chunk.slice(0, n));
  total += n;
}
const input = new Uint8Array(total);
let at = 0;
for (let i = 0; i < chunks.length; i++) {
  input.set(Uint8Array.wrap(chunks[i]), at);
  at += chunks[i].byteLength;
}
let name = String.UTF8.decode(input.buffer).trimEnd();
if (name.length == 0) name = 'world';
process.stdout.write(\`Hello, \${name}!\\n\`);
`,
  lua: (name) => `${HEADER(name, '--')}local input = io.read('a'):gsub('%s+$', '')
io.write('Hello, ', input ~= '' and input or 'world', '!\\n')
`,
};

/** The Dockerfile of a native twin: the static binary alone in a `FROM scratch` image. */
export function dockerfile(name: string): string {
  return `FROM scratch\nCOPY ${name} /${name}\nENTRYPOINT ["/${name}"]\n`;
}

/**
 * Writes a new project in `<parent>/<name>`; returns its folder.
 * @throws HayateError HAYATE_ERR_INVALID_NAME for a bad name, HAYATE_ERR_INVALID_OPTION for an unknown
 *   language or a folder that exists and is not empty
 */
export function newProject(name: string, lang: string, parent = '.'): string {
  const fn = parseFunctionName(name);
  if (!LANGUAGES.includes(lang as Language)) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Invalid --lang ${JSON.stringify(lang)}: expected one of ${LANGUAGES.join(', ')}`);
  const language = lang as Language;
  const dir = resolve(parent, fn);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new HayateError('HAYATE_ERR_INVALID_OPTION', `Cannot create project ${fn} as ${dir} exists and is not empty`);
  mkdirSync(dir, { recursive: true });
  const main = DEFAULT_MAIN[language];
  const native = TOOLCHAINS[language].native !== null;
  const spec = {
    name: fn,
    lang: language,
    main,
    policy: 'auto',
    limits: { memory_mb: 128, timeout_ms: 10000 },
    ...(native ? { image: `${IMAGE_PREFIX}${fn}:latest` } : {}),
    env: [],
    args: [],
    files: null,
  };
  writeFileSync(join(dir, PROJECT_FILE), `${JSON.stringify(spec, null, 2)}\n`);
  writeFileSync(join(dir, main), PROGRAM[language](fn));
  if (native) writeFileSync(join(dir, 'Dockerfile'), dockerfile(fn));
  writeFileSync(
    join(dir, 'README.md'),
    `# ${fn}\nA hayate function in ${TITLE[language]}: \`${main}\` reads the request on stdin and writes the answer on stdout.\nBuild, deploy, call: \`hayate build && hayate deploy && echo hi | hayate invoke ${fn}\`.\n`,
  );
  writeFileSync(join(dir, '.gitignore'), 'build/\n');
  return dir;
}
