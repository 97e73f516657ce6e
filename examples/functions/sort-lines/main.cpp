// sort-lines: a hayate example in C++ (libc++ on wasm32-wasi, libstdc++ in the native twin).
// Reads lines on stdin and writes them sorted; with argv[1] = "-r", in reverse order.
#include <algorithm>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
    std::ios::sync_with_stdio(false);
    std::vector<std::string> lines;
    for (std::string line; std::getline(std::cin, line);) lines.push_back(line);
    if (argc > 1 && std::string(argv[1]) == "-r") {
        std::sort(lines.begin(), lines.end(), std::greater<std::string>());
    } else {
        std::sort(lines.begin(), lines.end());
    }
    for (const auto &line : lines) std::cout << line << '\n';
    return 0;
}
