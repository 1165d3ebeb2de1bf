// PhiloxStream must equal numpy.random.Philox word for word. The expected vectors were produced
// with numpy 2.4.6:
//   b = numpy.random.Philox(key=numpy.array(KEY, dtype=numpy.uint64),
//                           counter=numpy.array(CTR, dtype=numpy.uint64))
//   [hex(x) for x in b.random_raw(6)]
// and the double with numpy.random.Generator(<same bit generator>).random().
#include "kiln/core/philox.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/core/detmath.h"

namespace kiln::core {
namespace {

struct Vector {
  PhiloxStream::Key key;
  PhiloxStream::Counter counter;
  std::uint64_t raw[6];
  double first_double;
};

const Vector kVectors[] = {
    {{0, 0}, {0, 0, 0, 0},
     {0x2f4ba6408e4d89bULL, 0x3dd62b0b9ca8c5b2ULL, 0x1c8667a55d902e79ULL, 0x907d7a052fd5b4dcULL,
      0x809bf322883987c3ULL, 0x471128b9e807f7ddULL},
     0.011546754286331562},
    // popgen §5.2 layout: key (seed 1, replicate 2), purpose 2 (BIRTHS), chunk 0, t = 5.
    {{1, 2}, {0, 2199023255552ULL, 5, 0x6B696C6E70670001ULL},
     {0x1e8053fa018296dcULL, 0x3908e89e48e92f36ULL, 0x3f0c6eae1bee1f0fULL, 0xa025f23c44c93d70ULL,
      0xc4280b466f8f6211ULL, 0x8a6329feea84c032ULL},
     0.11914563039455062},
    // Counter word 0 at its maximum: the increment carries into word 1, as numpy's does.
    {{0xFFFFFFFFFFFFFFFFULL, 7}, {0xFFFFFFFFFFFFFFFFULL, 0, 18446744073709551613ULL, 9},
     {0x75c4f3d2aa97a4a4ULL, 0x435b3691b09e15b8ULL, 0xd834715f0245b444ULL, 0x737b5bd9cfe15f7fULL,
      0xa2971910a4dd4715ULL, 0x8fb5f560cc566d74ULL},
     0.46003650563451837},
};

TEST(PhiloxStream, MatchesNumpyRandomRaw) {
  for (const auto& v : kVectors) {
    PhiloxStream s(v.key, v.counter);
    for (int i = 0; i < 6; ++i) EXPECT_EQ(s.next_u64(), v.raw[i]) << "word " << i;
  }
}

TEST(PhiloxStream, NextDoubleIsNumpyNextDouble) {
  for (const auto& v : kVectors) {
    PhiloxStream s(v.key, v.counter);
    EXPECT_EQ(s.next_double(), v.first_double);
  }
}

TEST(PhiloxStream, CounterIncrementsBeforeEachBlock) {
  PhiloxStream s({3, 4}, {10, 0, 0, 0});
  s.next_u64();
  EXPECT_EQ(s.counter()[0], 11u);
  for (int i = 0; i < 4; ++i) s.next_u64();
  EXPECT_EQ(s.counter()[0], 12u);
}

// det_log / det_log1p are fdlibm (< 1 ulp), det_exp the arena polynomial (< 2 ulp): compare with
// the platform libm in ulps over wide random ranges.
double UlpDiff(double a, double b) {
  if (a == b) return 0;
  return std::fabs(a - b) / std::fabs(std::nextafter(b, INFINITY) - b);
}

TEST(Detmath, WithinUlpsOfLibm) {
  std::mt19937_64 gen(12345);
  std::uniform_real_distribution<double> ex(-740.0, 709.0), small(-1.0, 1.0), lg(-300.0, 300.0);
  for (int i = 0; i < 200000; ++i) {
    double x = ex(gen);
    EXPECT_LE(UlpDiff(detmath::det_exp(x), std::exp(x)), 2.0) << x;
    double y = std::pow(10.0, lg(gen));
    EXPECT_LE(UlpDiff(detmath::det_log(y), std::log(y)), 1.0) << y;
    double z = small(gen) * std::pow(10.0, -std::fabs(small(gen)) * 20);
    EXPECT_LE(UlpDiff(detmath::det_log1p(z), std::log1p(z)), 1.0) << z;
    double w = std::pow(10.0, lg(gen) / 30);
    EXPECT_LE(UlpDiff(detmath::det_log1p(w), std::log1p(w)), 1.0) << w;
    double a = small(gen) * 1000;
    double s, c;
    detmath::det_sincos(a, &s, &c);
    EXPECT_NEAR(s, std::sin(a), 4e-16 * 1000);
    EXPECT_NEAR(c, std::cos(a), 4e-16 * 1000);
  }
}

TEST(Detmath, SpecialValues) {
  EXPECT_EQ(detmath::det_exp(0.0), 1.0);
  EXPECT_EQ(detmath::det_exp(-800.0), 0.0);
  EXPECT_TRUE(std::isinf(detmath::det_exp(710.0)));
  EXPECT_EQ(detmath::det_log(1.0), 0.0);
  EXPECT_TRUE(std::isinf(detmath::det_log(0.0)));
  EXPECT_TRUE(std::isnan(detmath::det_log(-1.0)));
  EXPECT_EQ(detmath::det_log1p(0.0), 0.0);
  EXPECT_TRUE(std::isinf(detmath::det_log1p(-1.0)));
  EXPECT_EQ(detmath::det_log(std::exp(1.0)), std::log(std::exp(1.0)));
}

}  // namespace
}  // namespace kiln::core
