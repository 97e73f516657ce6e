-- lua-wordfreq: a hayate example in Lua, run by Debian's Lua 5.4 interpreter built for wasm32-wasi.
-- Counts the words of stdin and prints the most frequent ones, `count word` per line (argv: how many, 10).
local top = tonumber(arg and arg[1]) or 10
local counts = {}
for word in io.read('a'):lower():gmatch('%a+') do
  counts[word] = (counts[word] or 0) + 1
end
local words = {}
for word in pairs(counts) do words[#words + 1] = word end
table.sort(words, function(a, b)
  if counts[a] ~= counts[b] then return counts[a] > counts[b] end
  return a < b
end)
for i = 1, math.min(top, #words) do
  io.write(counts[words[i]], ' ', words[i], '\n')
end
