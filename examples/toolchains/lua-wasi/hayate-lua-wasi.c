/* Run-time half of hayate-lua-wasi.h: what wasi-libc lacks for Lua. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lua.h"

_Noreturn void hayate_lua_throw(lua_State *L, int status) {
  const char *msg = status == LUA_YIELD ? "coroutine.yield is not supported on wasm32-wasi" : lua_tostring(L, -1);
  fprintf(stderr, "lua: %s\n", msg != NULL ? msg : "(error object is not a string)");
  exit(1);
}

/* os.execute: a function has no shell and no processes */
int system(const char *command) {
  if (command == NULL) return 0;
  errno = ENOSYS;
  return -1;
}

/* os.tmpname: wasi-libc has no mkstemp; names from getentropy, created with O_EXCL */
int mkstemp(char *template) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  size_t len = strlen(template);
  if (len < 6 || strcmp(template + len - 6, "XXXXXX") != 0) {
    errno = EINVAL;
    return -1;
  }
  for (int attempt = 0; attempt < 100; attempt++) {
    unsigned char r[6];
    if (getentropy(r, sizeof r) != 0) return -1;
    for (int i = 0; i < 6; i++) template[len - 6 + i] = alphabet[r[i] % 36];
    int fd = open(template, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

/* io.tmpfile: an unlinked file under /tmp */
FILE *tmpfile(void) {
  char name[] = "/tmp/lua_XXXXXX";
  int fd = mkstemp(name);
  if (fd < 0) return NULL;
  unlink(name);
  return fdopen(fd, "w+");
}
