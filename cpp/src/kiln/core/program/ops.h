// Scalar semantics of the arith f64 opcodes (specs/formula.md A.2.3-A.2.4), shared by the
// scalar VM, the batch VM and constant folding, so that every path computes the same bits.
// Transcendentals call the platform libm per element: no approximate SIMD math, so the Python
// reference (which reaches the same libm through `math`) agrees bitwise.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "kiln/core/program/opcodes_generated.h"

namespace kiln::core::program::ops {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline double b2d(bool b) { return b ? 1.0 : 0.0; }
/// Python truthiness of a double: non-zero, NaN included (NaN == 0.0 is false). One compare, so
/// column loops over it vectorise into a mask and a blend instead of a branch per row.
inline bool truthy(double v) { return !(v == 0.0); }

/// Python float floor division (cpython Objects/floatobject.c float_floor_div); a // 0 = a / 0.
inline double floordiv(double a, double b) {
  if (b == 0.0) return a / b;
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 || mod != mod) {
    if ((b < 0) != (mod < 0)) div -= 1.0;
  }
  double fl;
  if (div != 0.0 || div != div) {
    fl = std::floor(div);
    if (div - fl > 0.5) fl += 1.0;
  } else {
    fl = std::copysign(0.0, a / b);
  }
  return fl;
}

/// Python float modulo (float_rem): the sign of b; a % 0 = NaN.
inline double mod(double a, double b) {
  if (b == 0.0) return kNaN;
  double m = std::fmod(a, b);
  if (m != 0.0 || m != m) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(0.0, b);
  }
  return m;
}

/// IEEE 754-2019 minimum / maximum: NaN propagates, -0.0 < 0.0.
inline double minimum(double a, double b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}
inline double maximum(double a, double b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}

inline double sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : x); }

/// numpy's power_of_ten (numpy/core/src/multiarray/calculation.c): exact up to 1e8, then
/// repeated multiplication, so round(x, n) matches numpy.round bit for bit.
inline double power_of_ten(int n) {
  static constexpr double p10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
  if (n < 9) return p10[n];
  double r = 1e9;
  while (n-- > 9) r *= 10.0;
  return r;
}
inline double roundn(double x, int digits) {
  if (digits >= 0) {
    double f = power_of_ten(digits);
    return std::nearbyint(x * f) / f;
  }
  double f = power_of_ten(-digits);
  return std::nearbyint(x / f) * f;
}

inline double fn1(int id, double x) {
  switch (static_cast<Fn1>(id)) {
    case Fn1::sign: return sign(x);
    case Fn1::cbrt: return std::cbrt(x);
    case Fn1::exp: return std::exp(x);
    case Fn1::expm1: return std::expm1(x);
    case Fn1::log: return std::log(x);
    case Fn1::log1p: return std::log1p(x);
    case Fn1::log2: return std::log2(x);
    case Fn1::log10: return std::log10(x);
    case Fn1::sin: return std::sin(x);
    case Fn1::cos: return std::cos(x);
    case Fn1::tan: return std::tan(x);
    case Fn1::asin: return std::asin(x);
    case Fn1::acos: return std::acos(x);
    case Fn1::atan: return std::atan(x);
    case Fn1::sinh: return std::sinh(x);
    case Fn1::cosh: return std::cosh(x);
    case Fn1::tanh: return std::tanh(x);
    case Fn1::asinh: return std::asinh(x);
    case Fn1::acosh: return std::acosh(x);
    case Fn1::atanh: return std::atanh(x);
    case Fn1::isnan: return b2d(std::isnan(x));
    case Fn1::isinf: return b2d(std::isinf(x));
    case Fn1::isfinite: return b2d(std::isfinite(x));
  }
  return kNaN;
}

inline double fn2(int id, double a, double b) {
  switch (static_cast<Fn2>(id)) {
    case Fn2::atan2: return std::atan2(a, b);
    case Fn2::hypot: return std::hypot(a, b);
    case Fn2::fmod: return std::fmod(a, b);
    case Fn2::copysign: return std::copysign(a, b);
  }
  return kNaN;
}

/// One application of an arith opcode with up to three operands (a, b, c in push order).
/// LIT, VAR, LAGG and NOP are leaves handled by the caller.
inline double apply(Op op, std::int16_t arg0, double a, double b, double c) {
  switch (op) {
    case Op::ADD: return a + b;
    case Op::SUB: return a - b;
    case Op::MUL: return a * b;
    case Op::DIV: return a / b;
    case Op::POW: return std::pow(a, b);
    case Op::NEG: return -a;
    case Op::SQR: return a * a;
    case Op::FLOORDIV: return floordiv(a, b);
    case Op::MOD: return mod(a, b);
    case Op::LT: return b2d(a < b);
    case Op::LE: return b2d(a <= b);
    case Op::GT: return b2d(a > b);
    case Op::GE: return b2d(a >= b);
    case Op::EQ: return b2d(a == b);
    case Op::NE: return b2d(a != b);
    case Op::NOT: return b2d(a == 0.0);
    case Op::AND: return truthy(a) ? b : a;
    case Op::OR: return truthy(a) ? a : b;
    case Op::SELECT: return truthy(a) ? b : c;
    case Op::MIN: return minimum(a, b);
    case Op::MAX: return maximum(a, b);
    case Op::ABS: return std::fabs(a);
    case Op::SQRT: return std::sqrt(a);
    case Op::FLOOR: return std::floor(a);
    case Op::CEIL: return std::ceil(a);
    case Op::TRUNC: return std::trunc(a);
    case Op::ROUND: return std::nearbyint(a);
    case Op::ROUNDN: return roundn(a, arg0);
    case Op::CLAMP: return minimum(maximum(a, b), c);
    case Op::FN1: return fn1(arg0, a);
    case Op::FN2: return fn2(arg0, a, b);
    default: return kNaN;
  }
}

}  // namespace kiln::core::program::ops
