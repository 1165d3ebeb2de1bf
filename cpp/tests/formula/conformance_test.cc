// The conformance file tests/formula/data/conformance.toml (specs/formula.md A.6, D.1), read by a
// line parser for its restricted TOML subset (one `key = value` per line).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "kiln/formula/canonical.h"
#include "kiln/formula/expression.h"

namespace {

using kiln::formula::CompileOptions;
using kiln::formula::Expression;
using kiln::formula::Mode;

struct Case {
  std::string formula, mode = "ieee", vars, lists, value;
  int code = 0;
  long byte_position = -1;
};

std::string Unquote(const std::string& v) {
  std::string out;
  for (std::size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    char c = v[++i];
    if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'u') {
      unsigned cp = std::stoul(v.substr(i + 1, 4), nullptr, 16);
      i += 4;
      if (cp < 0x80) out += static_cast<char>(cp);
      else if (cp < 0x800) out += static_cast<char>(0xC0 | (cp >> 6)), out += static_cast<char>(0x80 | (cp & 0x3F));
      else
        out += static_cast<char>(0xE0 | (cp >> 12)), out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
            out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<Case> Load() {
  std::ifstream in(KILN_SOURCE_DIR "/tests/formula/data/conformance.toml");
  std::vector<Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line == "[[case]]") {
      cases.emplace_back();
      continue;
    }
    auto eq = line.find(" = ");
    if (eq == std::string::npos || cases.empty() || line[0] == '#') continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 3);
    Case& c = cases.back();
    if (k == "formula") c.formula = Unquote(v);
    else if (k == "mode") c.mode = Unquote(v);
    else if (k == "vars") c.vars = Unquote(v);
    else if (k == "lists") c.lists = Unquote(v);
    else if (k == "value") c.value = Unquote(v);
    else if (k == "code") c.code = std::stoi(v);
    else if (k == "byte_position") c.byte_position = std::stol(v);
  }
  return cases;
}

double F64(const std::string& hex) { return std::bit_cast<double>(std::stoull(hex, nullptr, 16)); }

// "name=0x..;name=0x.." -> pairs
std::vector<std::pair<std::string, std::string>> Pairs(const std::string& s) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t e = s.find(';', i);
    if (e == std::string::npos) e = s.size();
    std::string part = s.substr(i, e - i);
    auto eq = part.find('=');
    out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    i = e + 1;
  }
  return out;
}

bool Same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

TEST(FormulaConformance, EveryCase) {
  auto cases = Load();
  ASSERT_GE(cases.size(), 300u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.formula);
    CompileOptions o;
    o.mode = c.mode == "strict" ? Mode::strict : Mode::ieee;
    auto r = Expression::compile(c.formula, o);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), c.code) << r.status().message();
      EXPECT_EQ(r.status().detail("position").value_or("?"), std::to_string(c.byte_position));
      continue;
    }
    const Expression& e = *r;
    EXPECT_TRUE(e.program().check().ok());
    std::vector<double> scalars(e.program().n_vars, 0.0);
    std::vector<std::vector<double>> list_data(e.program().n_lists);
    std::vector<kiln::formula::ListView> lists(e.program().n_lists);
    for (const auto& [name, hex] : Pairs(c.vars)) {
      auto s = e.slot(name);
      ASSERT_TRUE(s.has_value()) << name;
      scalars[e.variables()[*s].slot] = F64(hex);
    }
    for (const auto& [name, hexes] : Pairs(c.lists)) {
      auto s = e.slot(name);
      ASSERT_TRUE(s.has_value()) << name;
      auto& d = list_data[e.variables()[*s].slot];
      std::size_t i = 0;
      while (i < hexes.size()) {
        std::size_t k = hexes.find(',', i);
        if (k == std::string::npos) k = hexes.size();
        d.push_back(F64(hexes.substr(i, k - i)));
        i = k + 1;
      }
      lists[e.variables()[*s].slot] = {d.data(), d.size()};
    }
    auto v = e.evaluate(scalars, lists);
    if (c.value.empty()) {
      ASSERT_FALSE(v.ok());
      EXPECT_EQ(v.status().code(), c.code);
      EXPECT_EQ(v.status().detail("position").value_or("?"), std::to_string(c.byte_position));
      continue;
    }
    ASSERT_TRUE(v.ok()) << v.status().message();
    EXPECT_TRUE(Same(*v, F64(c.value))) << *v;
    // the batch VM on 7 rows equals the scalar result
    if (e.program().n_lists == 0 && c.mode == "ieee") {
      std::vector<kiln::formula::ColumnRef> cols(e.program().n_vars);
      std::vector<std::vector<double>> colv(e.program().n_vars);
      for (std::size_t s = 0; s < cols.size(); ++s) {
        colv[s].assign(7, scalars[s]);
        cols[s].data = colv[s].data();
      }
      std::vector<double> out(7);
      ASSERT_TRUE(e.evaluate_batch({cols, {}, 7}, out).ok());
      for (double x : out) EXPECT_TRUE(Same(x, *v));
      // the same with every variable a broadcast scalar (the VM's scalar-operand paths)
      for (std::size_t s = 0; s < cols.size(); ++s) cols[s] = {nullptr, scalars[s]};
      std::vector<double> out2(7);
      ASSERT_TRUE(e.evaluate_batch({cols, {}, 7}, out2).ok());
      for (double x : out2) EXPECT_TRUE(Same(x, *v));
    }
  }
}

// A.6 property (2) natively: every conformance formula prints to a canonical text that compiles
// to the same tree. The tree is the unfolded program (fold=false): folding leaves the literals it
// consumed in the pool, so a folded program is not a tree of its own text.
TEST(Conformance, CanonicalTextRoundTrips) {
  int compiled = 0;
  for (const auto& c : Load()) {
    for (Mode mode : {Mode::ieee, Mode::strict}) {
      CompileOptions o;
      o.fold = false;
      o.mode = mode;
      const auto st = kiln::formula::check_round_trip(c.formula, o);
      EXPECT_TRUE(st.ok()) << st.message();
      compiled += Expression::compile(c.formula, o).ok() ? 1 : 0;
    }
  }
  EXPECT_GT(compiled, 600);
}

}  // namespace
