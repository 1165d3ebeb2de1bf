// kiln::formula::compat fast path: rows of the measured edge table (specs/formula.md A.5) and the
// deferral rules. tests/formula/test_compat_fastpath.py compares it with the Python path at scale.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "kiln/formula/compat_fastpath.h"

namespace {

namespace compat = kiln::formula::compat;
using compat::Outcome;

double Value(const std::string& text) {
  const auto r = compat::evaluate(text);
  EXPECT_EQ(r.outcome, Outcome::value) << text;
  return r.value;
}

int Zero(const std::string& text) {
  const auto r = compat::evaluate(text);
  EXPECT_EQ(r.outcome, Outcome::zero) << text;
  return r.code;
}

TEST(CompatFastPath, EdgeTableValues) {
  EXPECT_EQ(Value("1+2*3"), 7.0);
  EXPECT_EQ(Value("(1+2)*3"), 9.0);
  EXPECT_EQ(Value("2**10"), 1024.0);
  EXPECT_EQ(Value("-5.0 ** 2"), -25.0);  // the {x} ** 2 quirk after substitution
  EXPECT_EQ(Value("1.0--2.0"), 3.0);
  EXPECT_EQ(Value("12"), 12.0);
  EXPECT_EQ(Value("1e308*10"), INFINITY);
  EXPECT_EQ(Value("1e400"), INFINITY);
  EXPECT_EQ(Value("00"), 0.0);
  EXPECT_EQ(Value("01.5"), 1.5);
  EXPECT_EQ(Value("0.1*2"), 0.2);
  EXPECT_EQ(Value("2**-1"), 0.5);
  EXPECT_EQ(Value("2**3**2"), 512.0);
  EXPECT_EQ(Value("1 --- 2"), -1.0);
}

TEST(CompatFastPath, FailuresAreZeroWithTheirCodes) {
  EXPECT_EQ(Zero("2^3"), 4602);       // float ^ float: TypeError
  EXPECT_EQ(Zero("7 // 2"), 4601);    // FloorDiv is not whitelisted
  EXPECT_EQ(Zero("1/0"), 4602);
  EXPECT_EQ(Zero("0**-1"), 4602);
  EXPECT_EQ(Zero("10.0**400"), 4602);
  EXPECT_EQ(Zero(std::string(400, '9')), 4602);  // int literal beyond the double range
  EXPECT_EQ(Zero(" 1+2"), 4601);      // unexpected indent
  EXPECT_EQ(Zero("\t1+2"), 4601);
  EXPECT_EQ(Zero("007"), 4601);
  EXPECT_EQ(Zero("1e"), 4601);
  EXPECT_EQ(Zero(""), 4601);
  EXPECT_EQ(Zero("1/0 // 2"), 4601);  // rejected when visited, before 1/0 runs
  EXPECT_EQ(Zero("1/0 + 2//3"), 4602);  // 1/0 runs first
}

TEST(CompatFastPath, DefersWhatOnlyPythonDecides) {
  EXPECT_EQ(compat::evaluate("(-8)**(1/3)").outcome, Outcome::defer);  // complex
  EXPECT_EQ(compat::evaluate("2(3)").outcome, Outcome::defer);          // a call
  EXPECT_EQ(compat::evaluate("()").outcome, Outcome::defer);            // a tuple
  EXPECT_EQ(compat::evaluate("1 .e5").outcome, Outcome::defer);         // an attribute
  EXPECT_EQ(compat::evaluate(std::string(150, '(') + "1" + std::string(150, ')')).outcome, Outcome::defer);
  EXPECT_EQ(compat::evaluate(std::string(900, '-') + "1").outcome, Outcome::defer);
  EXPECT_FALSE(compat::is_fast_alphabet("1 + x"));
  EXPECT_FALSE(compat::is_fast_alphabet("1\n+2"));
}

TEST(CompatFastPath, PythonFloatRepr) {
  EXPECT_EQ(compat::python_float_repr(0.1), "0.1");
  EXPECT_EQ(compat::python_float_repr(1e16), "1e+16");
  EXPECT_EQ(compat::python_float_repr(1234567890123456.0), "1234567890123456.0");
  EXPECT_EQ(compat::python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(compat::python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(compat::python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(compat::python_float_repr(-2.5e-310), "-2.5e-310");
  EXPECT_EQ(compat::python_float_repr(100.0), "100.0");
}

}  // namespace
