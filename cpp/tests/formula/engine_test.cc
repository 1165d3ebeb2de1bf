// kiln::formula compiler, VM and shared program core (specs/formula.md A.2-A.3, anneal §2.1).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <pthread.h>
#include <random>
#include <string>

#include "kiln/core/error_codes.h"
#include "kiln/core/program/exact_sum.h"
#include "kiln/core/program/vm.h"
#include "kiln/formula/expression.h"

namespace {

using kiln::core::errors::Code;
using kiln::formula::CompileOptions;
using kiln::formula::Expression;
using kiln::formula::Mode;

int CodeOf(std::string_view text, const CompileOptions& o = {}) {
  auto r = Expression::compile(text, o);
  return r.ok() ? 0 : r.status().code();
}

double Eval(std::string_view text, std::vector<double> vars = {}) {
  auto r = Expression::compile(text);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r->evaluate_ieee(vars.data());
}

TEST(Program, ItemLayoutIs16Bytes) {
  static_assert(sizeof(kiln::core::program::Item) == 16);
  EXPECT_EQ(offsetof(kiln::core::program::Item, op), 6u);
  EXPECT_EQ(offsetof(kiln::core::program::Item, weight), 12u);
}

TEST(Program, CheckRejectsMalformed) {
  kiln::core::program::Program p;
  p.items.push_back({});
  p.items[0].op = static_cast<std::uint8_t>(kiln::core::program::Op::ADD);
  EXPECT_FALSE(p.check().ok());  // underflow
  p.items[0].op = static_cast<std::uint8_t>(kiln::core::program::Op::VAR);
  EXPECT_FALSE(p.check().ok());  // slot out of range
  p.n_vars = 1;
  EXPECT_TRUE(p.check().ok());
  p.items[0].op = 200;
  EXPECT_FALSE(p.check().ok());
}

TEST(Formula, Precedence) {
  EXPECT_EQ(Eval("-2**2"), -4.0);
  EXPECT_EQ(Eval("2**-1"), 0.5);
  EXPECT_EQ(Eval("2**3**2"), 512.0);
  EXPECT_EQ(Eval("2^3^2"), 512.0);
  EXPECT_EQ(Eval("--1"), 1.0);
  EXPECT_EQ(Eval("1 < 2 < 3"), 1.0);
  EXPECT_EQ(Eval("3 > 2 > 2"), 0.0);
  EXPECT_EQ(Eval("0 or 5"), 5.0);
  EXPECT_EQ(Eval("x and 7", {0.0}), 0.0);
}

TEST(Formula, ErrorsHaveCodesAndPositions) {
  auto r = Expression::compile("x + * 2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), static_cast<int>(Code::FORMULA_UNEXPECTED_TOKEN));
  EXPECT_EQ(r.status().detail("position"), "4");
  EXPECT_EQ(CodeOf("x \xff"), static_cast<int>(Code::FORMULA_INVALID_UTF8));
  EXPECT_EQ(CodeOf("2x"), static_cast<int>(Code::FORMULA_INVALID_NUMBER));
  EXPECT_EQ(CodeOf("sqr(x)"), static_cast<int>(Code::FORMULA_UNKNOWN_FUNCTION));
}

TEST(Formula, LimitsAtAndPastTheBoundary) {
  CompileOptions o;
  o.limits.max_length = 5;
  EXPECT_EQ(CodeOf("x + y", o), 0);
  EXPECT_EQ(CodeOf("x + yy", o), static_cast<int>(Code::FORMULA_TOO_LONG));
  o = {};
  o.limits.max_depth = 3;
  EXPECT_EQ(CodeOf("a - (b - c)", o), 0);
  EXPECT_EQ(CodeOf("a - (b - (c - d))", o), static_cast<int>(Code::FORMULA_TOO_DEEP));
  o = {};
  o.limits.max_nodes = 5;
  EXPECT_EQ(CodeOf("a + b + c", o), 0);
  EXPECT_EQ(CodeOf("a + b + c + d", o), static_cast<int>(Code::FORMULA_TOO_MANY_NODES));
  o = {};
  o.limits.max_args = 3;
  EXPECT_EQ(CodeOf("max(a, b, c)", o), 0);
  EXPECT_EQ(CodeOf("max(a, b, c, d)", o), static_cast<int>(Code::FORMULA_TOO_MANY_ARGUMENTS));
  o = {};
  o.limits.max_name_bytes = 3;
  EXPECT_EQ(CodeOf("abc", o), 0);
  EXPECT_EQ(CodeOf("abcd", o), static_cast<int>(Code::FORMULA_NAME_TOO_LONG));
  // the default depth limit: 255 nested right operands compile, 256 do not
  auto nest = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "a - (";
    s += "a";
    s += std::string(static_cast<std::size_t>(n), ')');
    return s;
  };
  EXPECT_EQ(CodeOf(nest(255)), 0);
  EXPECT_EQ(CodeOf(nest(256)), static_cast<int>(Code::FORMULA_TOO_DEEP));
}

void* CompileChain(void* arg) {
  // A 5,000-term sum and 100,000 nested parentheses on a thread with a 256 KiB stack: the
  // explicit-stack parser never recurses.
  std::string s = "a1";
  for (int i = 2; i <= 5000; ++i) s += " + a" + std::to_string(i);
  CompileOptions o;
  o.limits.max_nodes = 65535;
  auto r = Expression::compile(s, o);
  bool ok = r.ok() && r->compiled().depth == 2;
  std::string deep(100000, '(');
  deep += "1";
  deep += std::string(100000, ')');
  CompileOptions big;
  big.limits.max_length = 1 << 20;
  auto d = Expression::compile(deep, big);
  ok = ok && d.ok();
  *static_cast<bool*>(arg) = ok;
  return nullptr;
}

TEST(Formula, FiveThousandTermsOnASmallStack) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t t;
  bool ok = false;
  ASSERT_EQ(pthread_create(&t, &attr, &CompileChain, &ok), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_TRUE(ok);
}

TEST(Formula, StrictShortCircuit) {
  CompileOptions o;
  o.mode = Mode::strict;
  auto r = Expression::compile("if(x > 0, x, 1/0)", o);
  ASSERT_TRUE(r.ok());
  double one = 1.0, minus = -1.0;
  EXPECT_EQ(*r->evaluate(std::span<const double>(&one, 1)), 1.0);
  auto bad = r->evaluate(std::span<const double>(&minus, 1));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), static_cast<int>(Code::FORMULA_DIVISION_BY_ZERO));
  EXPECT_EQ(bad.status().detail("position"), "14");
}

TEST(Formula, BatchEqualsScalarForAnyThreadCount) {
  auto r = Expression::compile("sin(x) * exp(-y) + sqrt(abs(x)) + x ** y + if(x > y, x // 0.5, y % 0.3)");
  ASSERT_TRUE(r.ok());
  const std::size_t n = 300000;
  std::vector<double> x(n), y(n);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> d;
  for (std::size_t i = 0; i < n; ++i) x[i] = d(rng), y[i] = d(rng);
  kiln::formula::ColumnRef cols[2] = {{x.data(), 0}, {y.data(), 0}};
  std::vector<double> one(n), two(n);
  kiln::formula::BatchOptions b1, b2;
  b1.threads = 1;
  b2.threads = 2;
  ASSERT_TRUE(r->evaluate_batch({cols, {}, n}, one, b1).ok());
  ASSERT_TRUE(r->evaluate_batch({cols, {}, n}, two, b2).ok());
  EXPECT_EQ(std::memcmp(one.data(), two.data(), n * sizeof(double)), 0);
  for (std::size_t i = 0; i < n; i += 997) {
    double v[2] = {x[i], y[i]};
    double s = r->evaluate_ieee(v);
    EXPECT_TRUE((std::isnan(s) && std::isnan(one[i])) || std::bit_cast<std::uint64_t>(s) == std::bit_cast<std::uint64_t>(one[i]));
  }
}

TEST(ExactSum, MatchesExactRounding) {
  double a[] = {0.1, 0.2, 0.3};
  EXPECT_EQ(kiln::core::exact_sum(a, 3), 0.6);  // math.fsum([.1, .2, .3]) == 0.6
  double b[] = {1e308, 1e308, -1e308};
  EXPECT_EQ(kiln::core::exact_sum(b, 3), 1e308);
  double c[] = {1e308, 1e308};
  EXPECT_EQ(kiln::core::exact_sum(c, 2), INFINITY);
  double d[] = {1.0, 1e-16, 1e-16};
  EXPECT_EQ(kiln::core::exact_sum(d, 3), 1.0000000000000002);
  double e[] = {5e-324, 5e-324, -0.0};
  EXPECT_EQ(kiln::core::exact_sum(e, 3), 1e-323);
  kiln::core::ExactSum m;
  for (double v : {1.0, 2.0, 2.0}) m.add(v);
  EXPECT_EQ(m.divided_by(3), 5.0 / 3.0);
}

}  // namespace
