/** `--help` texts of the project verbs (`hayate new`, `hayate build`); help.ts shows them with the others. */

export const PROJECT_HELP: Readonly<Record<string, string>> = {
  new: `Usage: hayate new <name> [--lang c|cpp|rust|assemblyscript|lua]

Writes a function project in ./<name>: a program that answers "Hello, <stdin>!", hayate.json (name,
language, main source, policy, limits, image, env, args, files), a Dockerfile for the native twin (C, C++,
Rust) and a three-line README. Then: cd <name> && hayate build && hayate deploy.

  --lang L   c | cpp | rust | assemblyscript | lua   [c]
`,
  build: `Usage: hayate build [DIR] [--out OUT] [--no-image] [--json]

Builds the project in DIR (default .) with its language's toolchain (docs/functions.md):
  OUT/<name>.wasm   the WASI module: clang/wasi-libc (C), clang++/libc++ (C++), Debian's rustc
                    --target wasm32-wasi (Rust), asc with @assemblyscript/wasi-shim (AssemblyScript),
                    Lua 5.4 built from Debian's sources, the script passed with -e (Lua)
  OUT/<name>        the static native binary (C, C++, Rust; gcc/g++ -static, rustc +crt-static)
  image             FROM scratch + that binary, tagged hayate-fn/<name>:latest (or hayate.json's image),
                    label io.hayate.function=<name>, when a Docker engine answers
  OUT/build.json    what was built, read by hayate deploy
Skips what is newer than its sources. A missing tool stops it with the apt or npm line that installs it.

  --out OUT    output folder            [DIR/build]
  --no-image   do not build the image
  --json       print build.json
`,
};
