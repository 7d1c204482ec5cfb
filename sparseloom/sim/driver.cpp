// Compiled stream driver: plays valid/ready streams into a Verilated core, no Python per cycle.
//
// It repeats, cycle for cycle, what sparseloom/sim/engine.py does under cocotb: handshakes are
// the valid/ready values seen just before each rising edge; new valid/ready/payload values are
// driven just after it; a random stall drops a source's valid or a sink's ready when Python's
// random.Random (MT19937, whose state comes in and goes back out) draws below the probability,
// with the draws in the same order. The ports of the core come from the generated "ports.h".
//
// The model is the core inside a wrapper (fast.py) that takes every input but clk through a
// shadow register, latched at each rising clk (when the core's own registers still see the
// values before it) or at a rising `load` (the core's registers untouched). So the driver sets
// the values of the next cycle before the edge, and one evaluation of the edge both clocks the
// core and settles it on the new inputs: the core's logic is evaluated once a cycle, not once
// for the edge and again for the new inputs. The core sees the same inputs at every edge and
// every handshake as when they were driven just after the edge.
//
// Input file (little-endian): magic "SLD1", u64 timeout, u32 mt[624], u32 mt_index, u32 plays;
// per play: f64 stall, u32 sources, per source {u32 stream, u32 untimed, u64 words, words of
// CHUNKS[stream] u32 each}, u32 sinks, per sink {u32 stream, u64 words wanted}.
// Output file: per play: u64 cycles, per source u64 sent, per sink u64 words and the words;
// then u32 mt[624], u32 mt_index. Exit status 3: a play stalled for `timeout` cycles.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ports.h"

namespace {

// Python's random.Random: MT19937 and its random() (53 bits from two 32-bit draws).
struct PyRandom {
    uint32_t mt[624];
    uint32_t index;

    uint32_t next() {
        if (index >= 624) {
            static const uint32_t mag01[2] = {0u, 0x9908b0dfu};
            int kk = 0;
            uint32_t y;
            for (; kk < 624 - 397; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + 397] ^ (y >> 1) ^ mag01[y & 1u];
            }
            for (; kk < 623; kk++) {
                y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
                mt[kk] = mt[kk + (397 - 624)] ^ (y >> 1) ^ mag01[y & 1u];
            }
            y = (mt[623] & 0x80000000u) | (mt[0] & 0x7fffffffu);
            mt[623] = mt[396] ^ (y >> 1) ^ mag01[y & 1u];
            index = 0;
        }
        uint32_t y = mt[index++];
        y ^= (y >> 11);
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= (y >> 18);
        return y;
    }

    double random() {
        uint32_t a = next() >> 5, b = next() >> 6;
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
    }
};

struct Reader {
    FILE* f;
    template <class T> T get() {
        T v;
        if (fread(&v, sizeof v, 1, f) != 1) fail("input file ends early");
        return v;
    }
    void words(std::vector<uint32_t>& out, size_t n) {
        out.resize(n);
        if (n && fread(out.data(), 4, n, f) != n) fail("input file ends early");
    }
    static void fail(const char* why) {
        fprintf(stderr, "sparseloom driver: %s\n", why);
        exit(2);
    }
};

struct Writer {
    FILE* f;
    template <class T> void put(T v) { fwrite(&v, sizeof v, 1, f); }
    void words(const std::vector<uint32_t>& w) { fwrite(w.data(), 4, w.size(), f); }
};

struct Source {
    int stream;
    bool untimed;
    uint64_t words;
    std::vector<uint32_t> data;
    uint64_t sent = 0;
    bool driven = false;
};

struct Sink {
    int stream;
    uint64_t want;
    std::vector<uint32_t> data;
    uint64_t got = 0;
    bool driven = false;
};

// A rising and falling clk: the core's registers take their next values, the shadow registers
// the inputs set since the last edge, and the core settles on both.
void edge(Top* top) {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
}

// The inputs set since the last edge reach the core now, without a clock edge.
void load(Top* top) {
    top->load = 1;
    top->eval();
    top->load = 0;
    top->eval();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    Reader in{fopen(argv[1], "rb")};
    if (!in.f) Reader::fail("cannot open the input file");
    if (in.get<uint32_t>() != 0x31444c53u) Reader::fail("not a driver input file (magic)");
    const uint64_t timeout = in.get<uint64_t>();
    PyRandom rng;
    for (auto& w : rng.mt) w = in.get<uint32_t>();
    rng.index = in.get<uint32_t>();
    const uint32_t plays = in.get<uint32_t>();

    VerilatedContext context;
    Top* top = new Top{&context};
    // Reset as engine.start does: three edges with rst high, one with it low, every stream idle.
    top->clk = 0;
    top->load = 0;
    top->eval();  // the initial values, and the edges' triggers start from clk and load low
    top->rst = 1;
    idle(top);
    load(top);
    for (int i = 0; i < 4; i++) {
        if (i == 3) {
            top->rst = 0;
            load(top);
        }
        edge(top);
    }

    Writer out{fopen(argv[2], "wb")};
    if (!out.f) Reader::fail("cannot open the output file");
    for (uint32_t p = 0; p < plays; p++) {
        const double stall = in.get<double>();
        std::vector<Source> src(in.get<uint32_t>());
        for (auto& s : src) {
            s.stream = in.get<uint32_t>();
            s.untimed = in.get<uint32_t>();
            s.words = in.get<uint64_t>();
            in.words(s.data, s.words * CHUNKS[s.stream]);
        }
        std::vector<Sink> snk(in.get<uint32_t>());
        for (auto& s : snk) {
            s.stream = in.get<uint32_t>();
            s.want = in.get<uint64_t>();
            s.data.resize(s.want * CHUNKS[s.stream]);
        }
        auto stalled = [&]() { return stall != 0.0 && rng.random() < stall; };
        auto drive = [&]() {
            for (auto& s : src) {
                bool on = s.sent < s.words && !stalled();
                if (on) set_payload(top, s.stream, &s.data[s.sent * CHUNKS[s.stream]]);
                if (on != s.driven) {
                    set_valid(top, s.stream, on);
                    s.driven = on;
                }
            }
            for (auto& s : snk) {
                bool on = s.got < s.want && !stalled();
                if (on != s.driven) {
                    set_ready(top, s.stream, on);
                    s.driven = on;
                }
            }
        };
        auto busy = [&]() {
            for (auto& s : src)
                if (s.sent < s.words) return true;
            for (auto& s : snk)
                if (s.got < s.want) return true;
            return false;
        };
        std::vector<char> took(src.size()), gave(snk.size());
        uint64_t cycle = 0, first = 0, last = 0;
        bool any = false;
        drive();
        load(top);
        while (busy()) {
            if (++cycle > timeout) {
                fprintf(stderr, "sparseloom driver: streams stalled for %llu cycles in play %u\n",
                        (unsigned long long)timeout, p);
                return 3;
            }
            // The handshakes of this edge: valid and ready as they stand before it.
            bool fired = false;
            for (size_t i = 0; i < src.size(); i++) took[i] = src[i].driven && get_ready(top, src[i].stream);
            for (size_t j = 0; j < snk.size(); j++) {
                gave[j] = snk[j].driven && get_valid(top, snk[j].stream);
                if (gave[j]) get_payload(top, snk[j].stream, &snk[j].data[snk[j].got * CHUNKS[snk[j].stream]]);
            }
            for (size_t i = 0; i < src.size(); i++)
                if (took[i]) {
                    src[i].sent++;
                    fired = fired || !src[i].untimed;
                }
            for (size_t j = 0; j < snk.size(); j++)
                if (gave[j]) {
                    snk[j].got++;
                    fired = true;
                }
            if (fired) {
                last = cycle;
                if (!any) first = cycle;
                any = true;
            }
            // What is driven just after this edge goes into the shadow registers with it.
            drive();
            edge(top);
        }
        idle(top);
        out.put<uint64_t>(any ? last - first + 1 : 0);
        for (auto& s : src) out.put<uint64_t>(s.sent);
        for (auto& s : snk) {
            out.put<uint64_t>(s.got);
            out.words(s.data);
        }
    }
    for (auto w : rng.mt) out.put<uint32_t>(w);
    out.put<uint32_t>(rng.index);
    fclose(out.f);
    top->final();
    delete top;
    return 0;
}
